"""`make run`'s process supervisor: supervisord, configured from the Procfile at each start.

Why supervisord (the `supervisor` package) rather than circus or a loop of our own: one small
pure-Python package, maintained since 2004 and still released, with no ZeroMQ or Tornado stack of
its own; it restarts an exited process at once, retries one that dies during start-up with a
growing delay (its BACKOFF state: 1 s, 2 s, 3 s ...), and stops each program as a process group,
so Celery's pool children and gunicorn's workers go with their parent.

The Procfile stays the one list of commands (honcho still reads it too): each run writes
`<data dir>/run/supervisord.conf` from it, then becomes supervisord in the foreground. Every
process logs to `<data dir>/logs/<name>.log` (rotated), and a `tail -F` of those files shows them
in the terminal; Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import NoReturn

from app.settings import Settings, SettingsError, current

# A process that dies within STARTSECS of its start counts as a failed start: supervisord waits
# 1 s, 2 s, 3 s ... before the next one and gives up (FATAL, in the terminal) after START_RETRIES
# failures in a row, about 80 minutes. One that ran longer is restarted at once.
STARTSECS = 5
START_RETRIES = 100
# SIGTERM first (Celery's warm shutdown, gunicorn's graceful stop), SIGKILL to the group after.
STOP_WAIT_SECONDS = {"worker": 30, "ingest": 30}
DEFAULT_STOP_WAIT = 10
LOG_BYTES, LOG_BACKUPS = "20MB", 3
# The AF_UNIX path limit (108 bytes with the NUL) is short for deep data folders.
SOCKET_PATH_LIMIT = 100
FOLLOWER = "logs"  # the tail -F program that shows every process's log in the terminal


class ProcfileError(ValueError):
    """The Procfile is missing, malformed, or lacks a process that was asked for."""


@dataclass(frozen=True)
class Program:
    name: str
    command: str


def read_procfile(path: Path) -> dict[str, Program]:
    """`name: command` lines, in order; blank lines and # comments are skipped."""
    programs: dict[str, Program] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ProcfileError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not name.replace("_", "").replace("-", "").isalnum() or not command:
            raise ProcfileError(f"{path}:{number}: expected `name: command`, got {line!r}")
        if name == FOLLOWER or name in programs:
            raise ProcfileError(f"{path}:{number}: the name {name!r} is taken")
        programs[name] = Program(name, command)
    return programs


@dataclass(frozen=True)
class Layout:
    """Where supervisord keeps its config, socket and pid file, and where the logs go."""

    run: Path
    logs: Path

    @property
    def config(self) -> Path:
        return self.run / "supervisord.conf"

    @property
    def socket(self) -> Path:
        sock = self.run / "supervisor.sock"
        if len(str(sock.resolve())) <= SOCKET_PATH_LIMIT:
            return sock.resolve()
        digest = sha256(str(self.run.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"imagepipe-{digest}.sock"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def layout_for(settings: Settings) -> Layout:
    return Layout(run=settings.data_path("run"), logs=settings.data_path("logs"))


def supervisord_config(programs: Sequence[Program], layout: Layout, *, follow: bool) -> str:
    """The supervisord.conf that runs programs (and, with follow, shows their logs)."""
    run, logs = layout.run.resolve(), layout.logs.resolve()
    # The socket is ours alone (0700); a login as well keeps supervisord from warning at each start.
    login = {"username": "imagepipe", "password": secrets.token_urlsafe(16)}
    sections = [
        _section(
            "supervisord",
            nodaemon="true",
            # Our own uid: no privilege change, and no "running as root" warning.
            user=str(os.getuid()),
            logfile=_escape(str(logs / "supervisord.log")),
            logfile_maxbytes=LOG_BYTES,
            logfile_backups=str(LOG_BACKUPS),
            pidfile=_escape(str(run / "supervisord.pid")),
            childlogdir=_escape(str(logs)),
        ),
        # supervisorctl -c <config> status | restart worker | ... talks to this socket.
        _section("unix_http_server", file=_escape(str(layout.socket)), chmod="0700", **login),
        _section(
            "rpcinterface:supervisor",
            **{"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"},
        ),
        _section("supervisorctl", serverurl=f"unix://{_escape(str(layout.socket))}", **login),
    ]
    if follow:
        files = " ".join(shlex.quote(str(layout.log(p.name).resolve())) for p in programs)
        sections.append(
            _section(
                f"program:{FOLLOWER}",
                command=_escape(f"tail -v -n 0 -F {files}"),  # -v: a ==> name <== header
                priority="1",  # started first and stopped last: no line is missed
                autorestart="true",
                stdout_logfile="/dev/stdout",
                stdout_logfile_maxbytes="0",
                redirect_stderr="true",
                stopasgroup="true",
                killasgroup="true",
            )
        )
    for priority, program in enumerate(programs, start=10):
        sections.append(
            _section(
                f"program:{program.name}",
                # Through sh for the Procfile's ${VAR:-default}; exec so that the pid supervisord
                # watches (and restarts) is the program itself.
                command=_escape(f"/bin/sh -c {shlex.quote('exec ' + program.command)}"),
                priority=str(priority),
                autostart="true",
                autorestart="true",
                startsecs=str(STARTSECS),
                startretries=str(START_RETRIES),
                stopsignal="TERM",
                stopwaitsecs=str(STOP_WAIT_SECONDS.get(program.name, DEFAULT_STOP_WAIT)),
                stopasgroup="true",
                killasgroup="true",
                redirect_stderr="true",
                stdout_logfile=_escape(str(layout.log(program.name).resolve())),
                stdout_logfile_maxbytes=LOG_BYTES,
                stdout_logfile_backups=str(LOG_BACKUPS),
            )
        )
    return "\n".join(sections)


def _section(name: str, **values: str) -> str:
    body = "".join(f"{key} = {value}\n" for key, value in values.items())
    return f"[{name}]\n{body}"


def _escape(value: str) -> str:
    """supervisord expands %(name)s in values: a literal % (Celery's worker@%h) is doubled."""
    return value.replace("%", "%%")


def _append_only(*fds: int) -> None:
    """Set O_APPEND on our output when it is a file (`make run > run.log`): the follower writes
    to the same file through /dev/stdout, and without it each would overwrite the other's lines."""
    for fd in fds:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_APPEND)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.ops.supervise", description=__doc__)
    parser.add_argument("names", nargs="+", help="Procfile processes to run")
    parser.add_argument("--procfile", type=Path, default=Path("Procfile"))
    parser.add_argument(
        "--quiet", action="store_true", help="logs in files only, not followed in the terminal"
    )
    args = parser.parse_args(argv)
    try:
        settings = current()
        procfile = read_procfile(args.procfile)
        missing = [name for name in args.names if name not in procfile]
        if missing:
            raise ProcfileError(f"{args.procfile} has no {', '.join(missing)}")
    except (SettingsError, ProcfileError) as exc:
        print(f"imagepipe: {exc}", file=sys.stderr)
        return 2
    layout = layout_for(settings)
    programs = [procfile[name] for name in args.names]
    layout.run.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    for program in programs:
        layout.log(program.name).touch()  # so the follower has every file from the start
    # Owner-only from its creation: it holds the socket's password.
    layout.config.unlink(missing_ok=True)
    config = os.open(layout.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(config, "w") as out:
        out.write(supervisord_config(programs, layout, follow=not args.quiet))
    _append_only(sys.stdout.fileno(), sys.stderr.fileno())
    print(f"  Logs:                {layout.logs}/{{{','.join(args.names)}}}.log")
    print(f"  Processes:           supervisorctl -c {layout.config} status", flush=True)
    # The programs find gunicorn, celery and tail on PATH; ours first, as a venv's activate does.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)])
    return _become_supervisord(layout.config)


def _become_supervisord(config: Path) -> NoReturn:
    """exec, not a child: Ctrl-C and SIGTERM reach supervisord directly, and it stops them all."""
    supervisord = shutil.which("supervisord") or "supervisord"
    os.execv(supervisord, [supervisord, "--nodaemon", "--configuration", str(config)])  # noqa: S606


if __name__ == "__main__":
    sys.exit(main())
