"""Start Flower safely: `python -m app.flower` (the Procfile's flower line).

Flower lists every task with its arguments and can revoke tasks and restart pools, and it has
no login of its own. So it binds to ``FLOWER_HOST`` (default 127.0.0.1, apart from the API's
``IMAGEPIPE_HOST``), and refuses to start on any other address unless ``FLOWER_BASIC_AUTH``
(``user:password[,user:password]``) is set. Flower reads that variable itself, so the
password never appears on a command line (``ps`` shows command lines to every local user).
"""

from __future__ import annotations

import ipaddress
import os
import sys

from app.settings import Settings, SettingsError, current

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that might resolve anywhere: treat it as exposed


def flower_command(settings: Settings) -> list[str]:
    """Flower's command line for these settings; SettingsError if it would be exposed."""
    if not is_loopback(settings.flower_host) and not settings.flower_basic_auth:
        raise SettingsError(
            f"FLOWER_HOST={settings.flower_host} is not a loopback address: set "
            "FLOWER_BASIC_AUTH=user:password (or bind Flower to 127.0.0.1)"
        )
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks.celery_app",
        "flower",
        f"--address={settings.flower_host}",
        f"--port={settings.flower_port}",
    ]


def main() -> int:  # noqa: RET503 - os.execv never returns
    try:
        settings = current()
        command = flower_command(settings)
    except SettingsError as exc:
        print(f"imagepipe flower: configuration error: {exc}", file=sys.stderr)
        return 2
    os.execv(command[0], command)  # noqa: S606 - our own interpreter, a fixed argument list


if __name__ == "__main__":
    sys.exit(main())
