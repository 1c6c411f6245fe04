"""`imagepipe --env FILE`: run a command with the settings another mode runs with.

`make run-aws-local` writes its environment (endpoint, bucket, queue and table URLs, and the
secret key it keeps under var/aws-local/) to var/aws-local/env, so that
`imagepipe --env var/aws-local/env token alice` signs with the key that platform checks, and the
admin commands reach its moto stores. The format is the shell's: KEY=VALUE lines, `#` comments,
an optional `export ` and optional quotes around the value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


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
        if match is None:
            raise EnvFileError(f"{path}:{number}: not KEY=VALUE")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_env_file(path: Path) -> None:
    """Into this process's environment (boto3 and Celery read it too); the file wins."""
    os.environ.update(read_env_file(path))
