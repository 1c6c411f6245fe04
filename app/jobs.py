"""The one port through which the API asks for work: by task name, never by importing tasks/."""

from __future__ import annotations

import math
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from app.logs import current_request_id

if TYPE_CHECKING:
    from celery import Celery

INGEST_TASK = "imagepipe.ingest"
PROCESS_TASK = "imagepipe.process"  # tasks/pipeline.py: the chain of one claimed attempt


class JobQueue(Protocol):
    def object_created(self, key: str) -> None:
        """What S3's ObjectCreated notification does on AWS: start processing this original."""
        ...

    def ping(self) -> None: ...

    def backlog(self) -> int:
        """How many tasks wait in the queue (SQS: an approximate count of visible messages)."""
        ...


class ChainStarter(Protocol):
    def start(self, image_id: str, attempt: int) -> None:
        """Run the processing chain for an attempt the caller has claimed (app/processing.py
        claim): what the admin commands use to reprocess and to requeue."""
        ...


_POOL_WAIT_SECONDS = 5.0  # then kombu's LimitExceeded: counted as the broker failing


class CeleryJobQueue:
    """Sends by name through a producer-only Celery app configured from celeryconfig."""

    def __init__(self, celery: Celery | None = None, *, cache_seconds: float = 1.0) -> None:
        if celery is not None:
            self.__dict__["_celery"] = celery  # the worker's own app (tasks/reconcile.py)
        self._cache_seconds = cache_seconds
        self._counted: tuple[float, int] = (-math.inf, 0)
        self._lock = threading.Lock()

    @cached_property
    def _celery(self) -> Celery:
        from celery import Celery

        app = Celery("imagepipe-api")
        app.config_from_object("celeryconfig")
        return app

    def backlog(self) -> int:
        # Counting lists a folder or calls SQS: once a second per process is plenty for a bound.
        with self._lock:
            when, count = self._counted
            if time.monotonic() - when < self._cache_seconds:
                return count
            queue = self._celery.conf.task_default_queue
            # A pooled connection keeps its channel: a new one would list every queue first
            # (kombu's SQS channel does, on start), a billed request and a round trip per count.
            # Bounded wait: producers share the pool, and a count must never hang an upload.
            with self._celery.pool.acquire(block=True, timeout=_POOL_WAIT_SECONDS) as conn:
                count = int(conn.default_channel.queue_declare(queue=queue).message_count)
            self._counted = (time.monotonic(), count)
            return count

    def object_created(self, key: str) -> None:
        # The request's ID rides along, so the worker's lines for this image carry it too.
        request_id = current_request_id()
        headers = {"request_id": request_id} if request_id else None
        self._celery.send_task(INGEST_TASK, args=[key], headers=headers)

    def start(self, image_id: str, attempt: int) -> None:
        self._celery.send_task(PROCESS_TASK, args=[image_id, attempt])

    def ping(self) -> None:
        with self._celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
