"""A running stage keeps its image's record fresh, so the reconciler never takes it from a worker
that is still alive, and takes it soon from one that died.

The record's `updated_at` is the lease. Stages of a healthy chain follow each other within
seconds and each ends with a write, so most stages never renew it: the renewal thread writes only
when the record is a third of the lease old, which in practice means a long stage or one that
waited in a queue. A worker killed with SIGKILL stops renewing, the record goes stale, and
tasks/reconcile.py requeues it one lease later (docs/robustness.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.catalog import ImageRecord, RecordNotFound, Status, change_once
from app.catalog.base import CatalogError
from app.services import Services

log = logging.getLogger(__name__)
THREAD_PREFIX = "lease-"  # a renewal thread's name: then the image ID


def renew(services: Services, image_id: str, attempt: int | None) -> bool:
    """Touch the record if it is still this attempt's and processing; False once it is not."""

    def touch(record: ImageRecord) -> ImageRecord | None:
        if record.status is not Status.PROCESSING or attempt not in (None, record.attempts):
            return None
        return record.evolve()  # saving bumps updated_at (and the version)

    return change_once(services.catalog, image_id, touch) is not None


@contextmanager
def held(services: Services, image_id: str, attempt: int | None) -> Iterator[None]:
    """Renew the lease every third of its length while the block runs."""
    interval = services.settings.lease_seconds / 3
    stop = threading.Event()

    def keep() -> None:
        due = _first_renewal(services, image_id, interval)
        while not stop.wait(max(0.0, due - time.time())):
            try:
                if not renew(services, image_id, attempt):
                    return  # finished, failed or requeued: nothing left to hold
            except RecordNotFound:
                return
            except CatalogError as exc:  # a passing outage: try again next round
                log.warning("lease of %s not renewed: %s", image_id, exc)
            due = time.time() + interval

    thread = threading.Thread(target=keep, name=f"{THREAD_PREFIX}{image_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _first_renewal(services: Services, image_id: str, interval: float) -> float:
    """Now if the record is already a third of a lease old (the task waited in a queue)."""
    try:
        updated_at = services.catalog.get(image_id).updated_at
    except CatalogError:
        return time.time()
    return updated_at + interval
