"""The worker's Prometheus metrics: tasks, processing steps, bytes, failures, the queue.

The worker's main process empties ``<data dir>/metrics/worker`` and turns on multiprocess mode
when it starts (worker_init), before it forks its pool: each pool process writes its own
samples there, and the main process serves their sum on IMAGEPIPE_WORKER_METRICS_HOST:PORT
(0: no endpoint; the samples are still counted). A pool process that exits is marked dead.

The queue's backlog and the age of its oldest message are read at scrape time by the main
process. The age is known for the embedded broker (the first message file's name is its send
time); SQS does not give it to a client (CloudWatch's ApproximateAgeOfOldestMessage does), so
on SQS only the backlog is exported here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app import metrics, observe
from app.jobs import CeleryJobQueue
from app.settings import Settings, current

log = logging.getLogger(__name__)
_started: dict[str, float] = {}
_image_failed: ContextVar[bool] = ContextVar("imagepipe_image_failed", default=False)
_server: list[Any] = []


class WorkerMetrics:
    """Made on first use, so that worker_init has chosen the mode (see app/metrics.py)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry  # read only when not in multiprocess mode (tests)
        self.tasks = Counter(
            "imagepipe_tasks_total",
            "Tasks run, by name and outcome: done, skipped (nothing to do), image_failed (it "
            "recorded the image as failed), error (it raised) or retried.",
            ["task", "outcome"],
            registry=registry,
        )
        self.task_seconds = Histogram(
            "imagepipe_task_duration_seconds",
            "Time a task ran, by name.",
            ["task"],
            buckets=metrics.LATENCY_BUCKETS,
            registry=registry,
        )
        self.steps = Histogram(
            "imagepipe_step_duration_seconds",
            "Time of a processing step (decode, resize, encode), by step and output format.",
            ["step", "format"],
            buckets=metrics.LATENCY_BUCKETS,
            registry=registry,
        )
        self.bytes_in = Counter(
            "imagepipe_bytes_in_total", "Bytes of originals decoded.", registry=registry
        )
        self.bytes_out = Counter(
            "imagepipe_bytes_out_total",
            "Bytes of variants stored, by format.",
            ["format"],
            registry=registry,
        )
        self.failures = Counter(
            "imagepipe_image_failures_total",
            "Images recorded as failed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.ready = Histogram(
            "imagepipe_upload_to_ready_seconds",
            "From an upload's creation (POST /upload) to its image being ready.",
            buckets=metrics.READY_BUCKETS,
            registry=registry,
        )


@cache
def recorder() -> WorkerMetrics:
    return WorkerMetrics(CollectorRegistry())


class PrometheusObserver:
    """app/observe.py's listener: processing's reports become samples."""

    def step(self, step: str, seconds: float, fmt: str = "") -> None:
        recorder().steps.labels(step, fmt).observe(seconds)

    def bytes_in(self, count: int) -> None:
        recorder().bytes_in.inc(count)

    def bytes_out(self, fmt: str, count: int) -> None:
        recorder().bytes_out.labels(fmt).inc(count)

    def failed(self, reason: str) -> None:
        recorder().failures.labels(reason).inc()
        _image_failed.set(True)

    def ready(self, seconds: float) -> None:
        recorder().ready.observe(seconds)


observe.install(PrometheusObserver())


def _ours(task: Any) -> bool:
    name = getattr(task, "name", None)
    return isinstance(name, str) and name.startswith("imagepipe.")


@task_prerun.connect
def _start(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and _ours(task):
        _started[task_id] = time.perf_counter()
        _image_failed.set(False)


@task_postrun.connect
def _finish(
    task_id: str | None = None, task: Any = None, retval: Any = None, state: Any = None, **_: Any
) -> None:
    started = _started.pop(task_id or "", None)
    if started is None or not _ours(task):
        return
    recorder().task_seconds.labels(task.name).observe(time.perf_counter() - started)
    if state == "SUCCESS":
        # A stage returns False when it had nothing to do (finished, or a newer attempt's), or
        # when it recorded the image as failed (a bad file is an outcome, not an error).
        if _image_failed.get():
            outcome = "image_failed"
        else:
            outcome = "skipped" if retval is False else "done"
        recorder().tasks.labels(task.name, outcome).inc()


@task_failure.connect
def _failed(sender: Any = None, **_: Any) -> None:
    if _ours(sender):
        recorder().tasks.labels(sender.name, "error").inc()


@task_retry.connect
def _retried(sender: Any = None, **_: Any) -> None:
    if _ours(sender):
        recorder().tasks.labels(sender.name, "retried").inc()


def oldest_message_age(queue_folder: Path, now: float | None = None) -> float | None:
    """Seconds since the oldest message in an embedded-broker queue folder was sent (None: empty).

    Message files are named ``<time_ns>-<uuid>.msg`` (tasks/fs_transport.py): the smallest name
    is the oldest message, and its name is its send time.
    """
    try:
        with os.scandir(queue_folder) as entries:
            names = [e.name for e in entries if e.name.endswith(".msg")]
    except FileNotFoundError:
        return None
    if not names:
        return None
    sent_ns = int(min(names).split("-", 1)[0])
    now = time.time() if now is None else now
    return max(0.0, now - sent_ns / 1e9)


class QueueCollector(Collector):
    """The task queue's backlog and oldest-message age, read when Prometheus scrapes."""

    def __init__(self, settings: Settings, jobs: Any) -> None:
        self._settings = settings
        self._jobs = jobs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = self._settings.task_queue
        backlog = GaugeMetricFamily(
            "imagepipe_queue_backlog",
            "Tasks waiting in the queue (SQS: ApproximateNumberOfMessages).",
            labels=["queue"],
        )
        try:
            backlog.add_metric([queue], float(self._jobs.backlog()))
        except Exception:  # the broker is down: say nothing rather than a wrong zero
            log.warning("queue backlog unavailable for metrics", exc_info=True)
        else:
            yield backlog
        if urlsplit(self._settings.broker_url).scheme == "filesystem":
            from tasks.fs_broker import folder_name

            folder = self._settings.data_path("broker", "queues", folder_name(queue))
            age = GaugeMetricFamily(
                "imagepipe_queue_oldest_message_age_seconds",
                "Age of the oldest task waiting in the queue (0 when it is empty).",
                labels=["queue"],
            )
            age.add_metric([queue], oldest_message_age(folder) or 0.0)
            yield age


def scrape_registry(settings: Settings, jobs: Any) -> CollectorRegistry:
    """What the worker's endpoint serves: every pool process's samples, and the queue."""
    registry = CollectorRegistry()
    source = metrics.folder()
    if source is None:
        registry.register(_Own())
    else:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=source)  # type: ignore[no-untyped-call]
    registry.register(QueueCollector(settings, jobs))
    return registry


class _Own(Collector):
    def collect(self) -> Iterator[Any]:
        yield from recorder().registry.collect()


@worker_init.connect
def _multiprocess(**_: Any) -> None:
    settings = current()
    metrics.use_folder(settings.data_path("metrics", "worker"))
    recorder.cache_clear()


@worker_ready.connect
def _serve(sender: Any = None, **_: Any) -> None:
    settings = current()
    if not settings.worker_metrics_port:
        return
    jobs = CeleryJobQueue(getattr(sender, "app", None))
    try:
        _server.append(
            start_http_server(
                settings.worker_metrics_port,
                addr=settings.worker_metrics_host,
                registry=scrape_registry(settings, jobs),
            )
        )
    except OSError as exc:  # a port in use costs the metrics endpoint, not the worker
        log.warning("worker metrics not served on port %d: %s", settings.worker_metrics_port, exc)
        return
    log.info(
        "worker metrics on http://%s:%d/metrics",
        settings.worker_metrics_host,
        settings.worker_metrics_port,
    )


@worker_shutdown.connect
def _stop_serving(**_: Any) -> None:
    while _server:
        server, _thread = _server.pop()
        server.shutdown()


@worker_process_shutdown.connect
def _pool_process_exits(pid: int | None = None, **_: Any) -> None:
    metrics.process_exited(pid or os.getpid())
