"""The supervisord config is made from the Procfile: the Procfile stays the one list of commands."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from app.ops.supervise import (
    FOLLOWER,
    Layout,
    ProcfileError,
    Program,
    read_procfile,
    supervisord_config,
)

ROOT = Path(__file__).resolve().parents[3]


def parsed(text: str) -> configparser.ConfigParser:
    """Read as supervisord does: %(name)s expansion on, so a %% comes back as one %."""
    config = configparser.ConfigParser(interpolation=configparser.BasicInterpolation())
    config.read_string(text)
    return config


def test_every_procfile_process_runs_its_procfile_command(tmp_path: Path) -> None:
    procfile = read_procfile(ROOT / "Procfile")
    assert {"web", "worker", "beat", "flower", "ingest"} <= procfile.keys()
    layout = Layout(run=tmp_path / "run", logs=tmp_path / "logs")
    config = parsed(supervisord_config(list(procfile.values()), layout, follow=False))
    for name, program in procfile.items():
        section = config[f"program:{name}"]
        # sh for the ${VAR:-default}s; exec so that supervisord watches the program itself.
        assert shlex.split(section["command"]) == ["/bin/sh", "-c", f"exec {program.command}"]
        assert section["autorestart"] == "true"
        # A start that fails within startsecs is retried after 1 s, 2 s, 3 s ... many times over.
        assert int(section["startsecs"]) > 0 and int(section["startretries"]) >= 50
        assert section["stopasgroup"] == section["killasgroup"] == "true"
        assert section["stdout_logfile"] == str((tmp_path / "logs" / f"{name}.log").resolve())
    assert "worker@%h" in shlex.split(config["program:worker"]["command"])[2]
    assert f"program:{FOLLOWER}" not in config


def test_the_follower_tails_every_log_to_the_terminal(tmp_path: Path) -> None:
    layout = Layout(run=tmp_path / "run", logs=tmp_path / "logs")
    programs = [Program("web", "gunicorn app"), Program("worker", "celery worker")]
    config = parsed(supervisord_config(programs, layout, follow=True))
    follower = config[f"program:{FOLLOWER}"]
    args = shlex.split(follower["command"])
    assert args[0] == "tail" and "-F" in args
    assert args[-2:] == [str(layout.log("web").resolve()), str(layout.log("worker").resolve())]
    assert follower["stdout_logfile"] == "/dev/stdout"
    assert int(follower["priority"]) < int(config["program:web"]["priority"])


def test_a_deep_data_folder_gets_a_socket_path_that_fits(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["folder"] * 20)
    socket = Layout(run=deep / "run", logs=deep / "logs").socket
    assert len(str(socket)) < 108
    assert socket != Layout(run=tmp_path / "other" / "run", logs=tmp_path).socket


@pytest.mark.parametrize(
    "text",
    [
        "web gunicorn app\n",  # no colon
        "web:\n",  # no command
        "web: a\nweb: b\n",  # twice
        f"{FOLLOWER}: tail\n",  # the follower's name
        "we b: a\n",  # not a name supervisord takes
    ],
)
def test_a_malformed_procfile_is_refused(tmp_path: Path, text: str) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(text)
    with pytest.raises(ProcfileError):
        read_procfile(procfile)


def test_comments_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# the API\n\nweb: gunicorn app:app --bind 127.0.0.1:8000\n")
    assert read_procfile(procfile) == {
        "web": Program("web", "gunicorn app:app --bind 127.0.0.1:8000")
    }
