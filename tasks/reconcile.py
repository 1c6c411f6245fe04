"""The catalog is the truth, the queue a hint: requeue images stuck past a deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app import processing
from app.catalog import Status
from app.services import Services
from tasks.celery_app import celery_app, services
from tasks.pipeline import start_chain

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@celery_app.task(name="imagepipe.reconcile")
def reconcile(limit: int = 100) -> dict[str, int]:
    return reconcile_once(services(), start_chain, limit=limit)


def reconcile_once(
    svc: Services, start: Callable[[str], None], *, limit: int = 100, now: float | None = None
) -> dict[str, int]:
    now = time.time() if now is None else now
    counts = {"requeued": 0, "failed": 0}
    stuck = svc.catalog.list_stale(
        [Status.PROCESSING], updated_before=now - svc.settings.stuck_after_seconds, limit=limit
    )
    # A pending record whose form has expired either lost its event or never got its upload.
    unclaimed = svc.catalog.list_stale(
        [Status.PENDING], updated_before=now - svc.settings.upload_ttl_seconds - 60, limit=limit
    )
    for record in stuck + unclaimed:
        if record.attempts >= MAX_ATTEMPTS:
            processing.fail(
                svc,
                record.image_id,
                "processing_timeout",
                f"no result after {record.attempts} attempts; a worker died or timed out each time",
            )
            counts["failed"] += 1
        elif not svc.originals.exists(record.original_key):
            processing.fail(svc, record.image_id, "upload_missing", "the upload never arrived")
            counts["failed"] += 1
        elif processing.claim(svc, record.image_id, force=True):
            start(record.image_id)
            counts["requeued"] += 1
    if any(counts.values()):
        log.info("reconciler: %s", counts)
    return counts
