"""The catalog is the truth, the queue a hint: requeue images whose task was lost.

A running stage renews its image's lease (app/lease.py), so a record in `processing` that has
not been touched for a lease is not being worked on. Either its next task waits in the queue, or
the task is gone: a worker killed with SIGKILL takes the message it held with it on the
filesystem broker, and on SQS hides it for a whole visibility timeout. With the queue empty the
task is surely gone (the reconciler's own beat messages aside), and the image is requeued after
one lease; while the queue still holds work
it may be waiting there, and is requeued only after IMAGEPIPE_STUCK_AFTER_SECONDS. The new chain
carries a new attempt number, so the old one, if it was only slow, does nothing when it wakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cache

from app import processing
from app.catalog import ImageRecord, Status
from app.jobs import CeleryJobQueue
from app.services import Services
from tasks.celery_app import celery_app, services
from tasks.pipeline import start_chain

log = logging.getLogger(__name__)

# Requeues of one image before it is failed: a worker dying on it this often is the image's doing.
MAX_ATTEMPTS = 5
# The reconciler's own messages share the queue (beat sends one every third of a lease, each
# expiring before the next): a queue holding no more than these holds no image's task.
BEAT_SLACK = 2


@cache
def _jobs() -> CeleryJobQueue:
    return CeleryJobQueue(celery_app, cache_seconds=0)


@celery_app.task(name="imagepipe.reconcile", ignore_result=True, shared=False)
def reconcile(limit: int = 500) -> dict[str, int]:
    return reconcile_once(services(), start_chain, backlog=_jobs().backlog(), limit=limit)


def reconcile_once(
    svc: Services,
    start: Callable[[str, int], None],
    *,
    backlog: int = 0,
    limit: int = 500,
    now: float | None = None,
) -> dict[str, int]:
    now = time.time() if now is None else now
    settings = svc.settings
    counts = {"requeued": 0, "failed": 0}
    # With work still queued, an idle image may just be waiting its turn.
    idle_for = settings.lease_seconds if backlog <= BEAT_SLACK else settings.stuck_after_seconds
    stuck = svc.catalog.list_stale([Status.PROCESSING], updated_before=now - idle_for, limit=limit)
    # A received upload whose event was lost looks the same; an unreceived one waits for its form.
    unclaimed = svc.catalog.list_stale(
        [Status.PENDING],
        updated_before=now - min(idle_for, settings.upload_ttl_seconds),
        limit=limit,
    )
    form_expired = now - settings.upload_ttl_seconds - 60
    for record in stuck + unclaimed:
        action = _decide(svc, record, form_expired)
        if action == "requeue":
            attempt = processing.claim(svc, record.image_id, force=True)
            if attempt is not None:
                start(record.image_id, attempt)
                counts["requeued"] += 1
        elif action in _FAILURES:
            processing.fail(svc, record.image_id, action, _FAILURES[action].format(r=record))
            counts["failed"] += 1
    if any(counts.values()):
        log.info("reconciler (backlog %d): %s", backlog, counts)
    return counts


_FAILURES = {
    "processing_timeout": "no result after {r.attempts} attempts; a worker died or timed out"
    " each time",
    "upload_missing": "the upload never arrived",
}


def _decide(svc: Services, record: ImageRecord, form_expired: float) -> str:
    """requeue, wait, or the failure reason to record."""
    if record.status is Status.PENDING and record.received_at is None:
        if record.updated_at >= form_expired:
            return "wait"  # the form is still valid: the upload may yet come
    elif record.attempts >= MAX_ATTEMPTS:
        return "processing_timeout"
    if not svc.originals.exists(record.original_key):
        return "upload_missing"
    return "requeue"  # also a stored upload whose event never arrived
