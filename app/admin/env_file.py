"""`imagepipe --env FILE`: run a command with the settings another mode runs with.

`make run-aws-local` writes its environment (endpoint, dummy credentials, bucket, queue and
table URLs, and the secret key it keeps under var/aws-local/) to var/aws-local/env with
`python -m app.admin.env_file FILE`, so that `imagepipe --env var/aws-local/env token alice`
signs with the key that platform checks, and the admin commands reach its moto stores. The
file is the shell's KEY='VALUE' lines (it can be sourced too), mode 0600: it holds the key.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from app.storage.private import FILE_MODE, private_dir

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# What the platform's processes read: imagepipe's settings, Celery's broker, boto3's location.
# Never the caller's other AWS variables (a real profile or session token has no place here).
_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")
_KEPT = (*_AWS, "AWS_ENDPOINT_URL", "CELERY_BROKER_URL")


class EnvFileError(ValueError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise EnvFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        try:
            words = shlex.split(match.group(2)) if match else None
        except ValueError:
            words = None
        if match is None or words is None or len(words) > 1:
            raise EnvFileError(f"{path}:{number}: not KEY=VALUE")
        values[match.group(1)] = words[0] if words else ""
    return values


def load_env_file(path: Path) -> None:
    """Into this process's environment (boto3 and Celery read it too); the file wins."""
    os.environ.update(read_env_file(path))


def write_env_file(path: Path, environ: Mapping[str, str]) -> None:
    """The platform's variables from ``environ``, for `--env` (mode 0600, replaced whole)."""
    kept = sorted((k, v) for k, v in environ.items() if k in _KEPT or k.startswith("IMAGEPIPE_"))
    text = "".join(f"{k}={shlex.quote(v)}\n" for k, v in kept)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "# Written by scripts/run-aws-local.sh: `imagepipe --env THIS_FILE COMMAND`\n" + text
        )
    tmp.replace(path)


if __name__ == "__main__":
    write_env_file(Path(sys.argv[1]), os.environ)
