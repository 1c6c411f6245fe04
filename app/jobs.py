"""The one port through which the API asks for work: by task name, never by importing tasks/."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from celery import Celery

INGEST_TASK = "imagepipe.ingest"


class JobQueue(Protocol):
    def object_created(self, key: str) -> None:
        """What S3's ObjectCreated notification does on AWS: start processing this original."""
        ...

    def ping(self) -> None: ...


class CeleryJobQueue:
    """Sends by name through a producer-only Celery app configured from celeryconfig."""

    @cached_property
    def _celery(self) -> Celery:
        from celery import Celery

        app = Celery("imagepipe-api")
        app.config_from_object("celeryconfig")
        return app

    def object_created(self, key: str) -> None:
        self._celery.send_task(INGEST_TASK, args=[key])

    def ping(self) -> None:
        with self._celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
