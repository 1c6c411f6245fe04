"""Upload event to variants through a real Celery worker, on the embedded default.

    python -m bench.worker_latency [--runs N] [PHOTO]

What `make run` runs: a `celery worker` process (prefork, concurrency 2) on the filesystem
broker (polled every 10 ms), folders for storage and a SQLite catalog, all under a temporary
data folder. For each run the original is stored and its record added, as the upload receiver
does; the clock starts when the receiver would announce the upload
(`CeleryJobQueue.object_created`, the ObjectCreated event) and this process reads the catalog
every 2 ms until the record has its placeholder and 640.webp (first usable), then until it is
`ready` (every variant). Broker polling, the ingest hop, the decode sandbox's fork and the
SQLite writes are all inside the figures. The first run warms the worker's processes and is
dropped.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from app.catalog import ImageCatalog, Status

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.002
TIMEOUT_SECONDS = 120.0


def embedded_env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "IMAGEPIPE_DATA_DIR": str(data),
        "IMAGEPIPE_ORIGINALS_URL": (data / "originals").as_uri(),
        "IMAGEPIPE_VARIANTS_URL": (data / "variants").as_uri(),
        "IMAGEPIPE_CATALOG_URL": f"sqlite:///{data}/catalog.db",
        "CELERY_BROKER_URL": "filesystem://",
        "IMAGEPIPE_SECRET_KEY": "bench-secret-key-0123456789abcdef",
        # The latency targets are for every variant: none left to a first request here.
        "IMAGEPIPE_EAGER_VARIANTS": "all",
    }


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker"]
    command += ["--concurrency", "2", "--loglevel", "WARNING", "--hostname", "bench@%h"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(photo: Path, runs: int) -> dict[str, list[float]]:
    """Seconds from the upload event to first usable and to ready, one pair per run.

    Runs in a spawned process: Settings and celeryconfig are read once per process, from the
    temporary data folder's environment, whatever the caller imported before.
    """
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="imagepipe-bench-worker-") as tmp:
        queue = context.Queue()
        child = context.Process(target=_measure_child, args=(photo, runs, Path(tmp), queue))
        child.start()
        try:
            outcome: tuple[str, Any] = queue.get(timeout=TIMEOUT_SECONDS * (runs + 2))
        finally:
            child.join(timeout=60)
    if outcome[0] == "error":
        raise RuntimeError(outcome[1])
    result: dict[str, list[float]] = outcome[1]
    return result


def _measure_child(photo: Path, runs: int, data: Path, queue: Any) -> None:
    env = embedded_env(data)
    os.environ.update(env)
    try:
        with worker(env, data / "worker.log") as proc:
            queue.put(("ok", _runs(photo, runs, proc, data / "worker.log")))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _runs(
    photo: Path, runs: int, proc: subprocess.Popen[bytes], log: Path
) -> dict[str, list[float]]:
    from app.jobs import CeleryJobQueue
    from app.services import build_services
    from app.settings import current

    services = build_services(current())
    jobs = CeleryJobQueue()
    first: list[float] = []
    everything: list[float] = []
    for i in range(runs + 1):
        image_id = uuid.uuid4().hex
        with photo.open("rb") as handle:
            services.originals.put(image_id, handle, content_type="image/jpeg")
        services.catalog.add(services.new_record(image_id, "bench", "image/jpeg", photo.name))
        start = time.perf_counter()
        jobs.object_created(image_id)

        t_first = _until(partial(_usable, services.catalog, image_id), proc, log) - start
        t_all = _until(partial(_ready, services.catalog, image_id), proc, log) - start
        if i:  # the first run starts the pool processes' codecs
            first.append(t_first)
            everything.append(t_all)
    return {"first": first, "all": everything}


def _usable(catalog: ImageCatalog, image_id: str) -> bool:
    record = catalog.get(image_id)
    return record.placeholder is not None and record.variant("640.webp") is not None


def _ready(catalog: ImageCatalog, image_id: str) -> bool:
    record = catalog.get(image_id)
    if record.status is Status.FAILED:
        raise RuntimeError(f"{image_id} failed in the worker: {record.failure_reason}")
    return record.status is Status.READY


def _until(done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> float:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not done():
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no result in {TIMEOUT_SECONDS:.0f} s; see {log}")
        time.sleep(POLL_SECONDS)  # the catalog is polled, as a client would
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    from bench.pipeline import CORPUS, FIXTURE, LATENCY_PHOTO

    parser = argparse.ArgumentParser(prog="python -m bench.worker_latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    default = CORPUS / LATENCY_PHOTO if (CORPUS / LATENCY_PHOTO).exists() else FIXTURE
    parser.add_argument("photo", nargs="?", type=Path, default=default)
    args = parser.parse_args(argv)
    result = measure(args.photo, args.runs)
    print(
        f"through a Celery worker ({args.photo.name}, {args.runs} runs): first usable median "
        f"{statistics.median(result['first']) * 1000:.0f} ms, all variants median "
        f"{statistics.median(result['all']) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
