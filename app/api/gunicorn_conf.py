"""gunicorn hooks: `gunicorn --config python:app.api.gunicorn_conf app.wsgi:app` (the Procfile).

The master empties ``<data dir>/metrics/api`` and turns on prometheus_client's multiprocess mode
before it forks its workers, so GET /metrics from any worker adds up all of them; a worker that
exits is marked dead.
"""

from __future__ import annotations

from typing import Any

from app import metrics
from app.settings import current


def on_starting(server: Any) -> None:
    metrics.use_folder(current().data_path("metrics", "api"))


def child_exit(server: Any, worker: Any) -> None:
    metrics.process_exited(worker.pid)
