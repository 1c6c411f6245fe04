"""A worker bootstep: the event loop's timer writes the heartbeat app/heartbeat.py describes."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import bootsteps

from app import heartbeat
from app.settings import current

log = logging.getLogger(__name__)


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    requires: ClassVar[set[str]] = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._settings = current()
        self._timer: Any = None

    def start(self, worker: Any) -> None:
        self._beat(worker.hostname)
        self._timer = worker.timer.call_repeatedly(
            heartbeat.INTERVAL_SECONDS, self._beat, (worker.hostname,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _beat(self, hostname: str) -> None:
        try:
            heartbeat.beat(self._settings, hostname)
        except OSError as exc:  # a full disk must not stop the worker; the check will say so
            log.warning("heartbeat not written: %s", exc)
