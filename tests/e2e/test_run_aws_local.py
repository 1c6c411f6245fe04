"""`make run-aws-local` (scripts/run-aws-local.sh) stops cleanly on Ctrl-C.

The script runs a moto server beside the platform. Ctrl-C reaches the whole terminal's process
group: if moto went down with it, the worker and the ingest loop would spend their stop timeouts
retrying a dead endpoint and be killed with tracebacks. Every process must stop by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.e2e.processes import ROOT, descendants, free_port, start_time, wait_for

pytestmark = pytest.mark.e2e

STARTUP = 300  # seconds: moto plus six processes on a loaded 2-core machine
# The two that poll SQS in a loop: with moto gone they retried until supervisord killed them.
SQS_POLLERS = ("ingest", "worker")


def _answers(url: str) -> bool | None:
    try:
        return True if requests.get(url, timeout=10).status_code == 200 else None
    except (requests.ConnectionError, requests.Timeout):
        return None


def _moto_servers(port: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"moto_server" in arg for arg in argv) and str(port).encode() in argv:
            found.append(int(entry.name))
    return found


@pytest.mark.timeout(900)
def test_ctrl_c_stops_the_local_aws_platform_cleanly(tmp_path: Path) -> None:
    port, flower_port, moto_port = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEPIPE_", "CELERY_", "AWS_", "FLOWER_"))
    } | {
        "IMAGEPIPE_DATA_DIR": str(tmp_path / "data"),
        "IMAGEPIPE_PORT": str(port),
        "FLOWER_PORT": str(flower_port),
        "MOTO_PORT": str(moto_port),
    }
    output = tmp_path / "terminal.out"
    with output.open("ab") as out:
        proc = subprocess.Popen(
            ["scripts/run-aws-local.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
    logs = tmp_path / "data" / "logs"
    started: dict[int, str | None] = {}

    def serving(check: bool | None) -> bool | None:
        if proc.poll() is not None:
            raise RuntimeError(f"run-aws-local exited: {output.read_text()[-3000:]}")
        return check

    def said(log: Path, words: str) -> bool | None:
        return serving(True if log.exists() and words in log.read_text(errors="replace") else None)

    try:
        wait_for(
            lambda: serving(_answers(f"http://127.0.0.1:{port}/health")),
            timeout=STARTUP,
            what="the API",
        )
        # Each SQS poller says so once its signal handlers are in: a Ctrl-C before that would
        # stop it mid-import, not cleanly, and the assertions below would fail for the wrong reason.
        for name, words in (("worker", "ready."), ("ingest", "ingesting s3://")):
            wait_for(partial(said, logs / f"{name}.log", words), timeout=STARTUP, what=name)
        started = {pid: start_time(pid) for pid in descendants(proc.pid)}
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        code = proc.wait(timeout=180)
    finally:
        if not started:  # start-up failed before the snapshot: take it now
            started = {pid: start_time(pid) for pid in descendants(proc.pid)}
            started |= {pid: start_time(pid) for pid in _moto_servers(moto_port)}
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # supervisord's programs and moto run in process groups of their own.
        left = [pid for pid, at in started.items() if at is not None and start_time(pid) == at]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    terminal = output.read_text(errors="replace")
    assert left == [], f"still running after Ctrl-C: {left}"
    assert code == 0, terminal[-3000:]
    for name in SQS_POLLERS:
        assert f"stopped: {name} (exit status 0)" in terminal, terminal[-3000:]
