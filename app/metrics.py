"""prometheus_client in multiprocess mode, shared by the API (gunicorn) and the worker (prefork).

Each process writes its samples to files in one folder; a scrape reads the folder and adds them
up, so any process answers for all of them. prometheus_client picks the mode from
PROMETHEUS_MULTIPROC_DIR, which `use_folder` sets before any metric is made, in the parent
process (gunicorn's master, Celery's main process) so the children it forks inherit it. Without
it (tests, `flask run`), each process counts for itself in its own registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# prometheus_client leaves its multiprocess helpers untyped (the ignores below).
from prometheus_client import CollectorRegistry, multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds, for requests and steps: 5 ms to 2 minutes (the task time limit's order).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Upload to ready includes the client's transfer and the queue: up to ten minutes.
READY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


def use_folder(folder: Path) -> None:
    """Start multiprocess mode on an empty `folder` (a previous run's files are stale)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(folder)
    # The mode is read when prometheus_client is imported; this process imported it already
    # (the line above), so choose again. Metrics made from here on write to the folder.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def folder() -> str | None:
    return os.environ.get(ENV) or None


def scrape_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else `own`."""
    path = folder()
    if path is None:
        return own
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def process_exited(pid: int) -> None:
    """A child is gone: drop its live gauges (counters and histograms stay in the sums)."""
    path = folder()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
