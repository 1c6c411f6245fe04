"""Start the platform's real processes for end-to-end tests, and stop them cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1
) -> T:
    """Poll until probe returns a value; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def web(stack: ExitStack, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    bind = f"{env['IMAGEPIPE_HOST']}:{env['IMAGEPIPE_PORT']}"
    args = python("-m", "gunicorn", "--bind", bind, "--workers", "2", "app.wsgi:app")
    proc = stack.enter_context(process(args, env, logs / "web.log"))
    base = f"http://{bind}"
    wait_for(lambda: _ok(f"{base}/health", proc, logs / "web.log"), timeout=60, what="the API")
    return proc


def worker(stack: ExitStack, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    args = python(
        "-m",
        "celery",
        "-A",
        "tasks.celery_app",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
        "--hostname",
        "e2e@%h",
        "-E",
    )
    proc = stack.enter_context(process(args, env, logs / "worker.log"))
    wait_for(
        lambda: True if "ready." in (logs / "worker.log").read_text() else _alive(proc, logs),
        timeout=60,
        what="the Celery worker",
    )
    return proc


def _alive(proc: subprocess.Popen[bytes], logs: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"process exited with {proc.returncode}; see {logs}")


def _ok(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool | None:
    if proc.poll() is not None:
        raise RuntimeError(
            f"{url}: server exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
        )
    try:
        return True if requests.get(url, timeout=2).status_code == 200 else None
    except requests.ConnectionError:
        return None
