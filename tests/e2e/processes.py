"""Start the platform's real processes for end-to-end tests, and stop them cleanly."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import requests
from celery import Celery

from tests.e2e.aws_tally import RequestTally

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


def run_python(
    *args: str, env: dict[str, str] | None = None, timeout: float | None = 120
) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in the project's root to its end, its output as text; the caller
    judges its exit status."""
    return subprocess.run(
        python(*args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def web(stack: ExitStack, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    bind = f"{env['IMAGEPIPE_HOST']}:{env['IMAGEPIPE_PORT']}"
    args = python("-m", "gunicorn", "--bind", bind, "--workers", "2", "app.wsgi:app")
    proc = stack.enter_context(process(args, env, logs / "web.log"))
    base = f"http://{bind}"
    wait_for(lambda: _ok(f"{base}/health", proc, logs / "web.log"), timeout=60, what="the API")
    return proc


def worker(
    stack: ExitStack,
    env: dict[str, str],
    logs: Path,
    *,
    hostname: str = "e2e@%h",
    include: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
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
        hostname,
        "-E",
    )
    if include:
        args += ["--include", ",".join(include)]
    proc = stack.enter_context(process(args, env, logs / "worker.log"))
    wait_for(
        lambda: True if "ready." in (logs / "worker.log").read_text() else _alive(proc, logs),
        timeout=60,
        what="the Celery worker",
    )
    return proc


def beat(stack: ExitStack, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """celery beat: it sends the reconciler every third of a lease."""
    args = python("-m", "celery", "-A", "tasks.celery_app", "beat", "--loglevel", "INFO")
    proc = stack.enter_context(process(args, env, logs / "beat.log"))
    wait_for(
        lambda: True if "beat: Starting" in (logs / "beat.log").read_text() else _alive(proc, logs),
        timeout=60,
        what="celery beat",
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
        return True if requests.get(url, timeout=5).status_code == 200 else None
    except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a busy machine
        return None


# --- The AWS path, against moto's HTTP server (tests/e2e/test_aws.py) ---


@contextmanager
def moto_server(tally: RequestTally | None = None) -> Iterator[str]:
    """moto's server, threaded, on 127.0.0.1 and a port of the kernel's choosing; yields its
    endpoint URL. With a tally, every request it answers is recorded there."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per AWS request
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1",
        0,
        tally.wrap(app) if tally else app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:  # make_server has bound and is listening: requests queue until serve_forever takes them
        yield endpoint
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def aws_env(base: dict[str, str], endpoint: str) -> dict[str, str]:
    """Dummy credentials and the endpoint: every AWS client in every process goes to moto."""
    host = endpoint.removeprefix("http://")
    kept = {k: v for k, v in base.items() if not k.startswith(("AWS_", "BOTO_"))}
    return kept | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        # kombu takes the SQS endpoint from the broker URL's host.
        "CELERY_BROKER_URL": f"sqs://testing:testing@{host}",
    }


def ingest(
    stack: ExitStack, env: dict[str, str], logs: Path, name: str = "ingest"
) -> subprocess.Popen[bytes]:
    """The ingest process (python -m tasks.ingest), once it is polling the uploads queue."""
    log = logs / f"{name}.log"
    proc = stack.enter_context(process(python("-m", "tasks.ingest"), env, log))
    wait_for(
        lambda: True if "ingesting s3://" in log.read_text() else _alive(proc, log),
        timeout=60,
        what="the ingest process",
    )
    return proc


def flower(stack: ExitStack, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    port = env["FLOWER_PORT"]
    args = python(
        "-m", "celery", "-A", "tasks.celery_app", "flower", "--address=127.0.0.1", f"--port={port}"
    )
    proc = stack.enter_context(process(args, env, logs / "flower.log"))
    url = f"http://127.0.0.1:{port}/healthcheck"
    wait_for(lambda: _ok(url, proc, logs / "flower.log"), timeout=60, what="Flower")
    return proc


# --- An embedded platform's worker, its processes and their memory (test_hostile_worker.py) ---


def presigned_upload(
    api: Callable[..., requests.Response], data: bytes, filename: str, content_type: str
) -> tuple[str, str]:
    """Ask POST /upload for a form, post the bytes to it; return (image ID, form URL)."""
    size = len(data)
    ticket = api(
        "POST", "/upload", json={"filename": filename, "content_type": content_type, "size": size}
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    form = body["upload"]
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": (filename, data, content_type)}, timeout=60
    )
    assert posted.status_code == 204, posted.text
    return str(body["image_id"]), str(form["url"])


def embedded_env(var: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a platform with every backend under var (no services)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    return (
        base
        | {
            "IMAGEPIPE_DATA_DIR": str(var),
            "IMAGEPIPE_ORIGINALS_URL": (var / "originals").as_uri(),
            "IMAGEPIPE_VARIANTS_URL": (var / "variants").as_uri(),
            "IMAGEPIPE_CATALOG_URL": f"sqlite:///{var / 'catalog.db'}",
            "CELERY_BROKER_URL": "filesystem://",
            "IMAGEPIPE_HOST": "127.0.0.1",
            "IMAGEPIPE_PORT": str(port),
        }
        | extra
    )


def worker_including(
    stack: ExitStack, env: dict[str, str], logs: Path, *modules: str
) -> subprocess.Popen[bytes]:
    """Like worker(), with extra task modules loaded (`celery worker --include`)."""
    return worker(stack, env, logs, hostname="e2e-hostile@%h", include=modules)


def children(pid: int) -> list[int]:
    """The processes pid started (Linux /proc); [] once it is gone."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below pid: its children first, then theirs."""
    found: list[int] = []
    level = children(pid)
    while level:
        found += level
        level = [kid for parent in level for kid in children(parent)]
    return found


def status_mb(pid: int, field: str) -> float | None:
    """A size from /proc/<pid>/status in MiB (VmRSS, VmHWM, VmSize...); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, which tells a process from a later one reusing its pid;
    None once it has exited (a zombie only waits for its parent, or init, to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def address_space_limit(pid: int) -> int | None:
    """The soft RLIMIT_AS of a process in bytes; None when unlimited or gone."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max address space"):
                soft = line.split()[3]
                return None if soft == "unlimited" else int(soft)
    except OSError:
        return None
    return None


def producer_for(var: Path, task_queue: str) -> Celery:
    """A Celery client on the embedded broker under var, for sending test-only tasks."""
    broker = var / "broker"
    app = Celery("e2e-producer", set_as_current=False)
    app.conf.update(
        broker_url="filesystem://",
        broker_transport="tasks.fs_transport:Transport",  # as celeryconfig.py selects it
        broker_transport_options={
            "data_folder": str(broker / "queues"),
            "control_folder": str(broker / "exchanges"),
        },
        task_default_queue=task_queue,
    )
    return app
