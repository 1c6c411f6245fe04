"""Retention (GDPR art. 5(1)(e), storage limitation): functions a periodic task calls.

* :func:`expire_originals`: an original keeps the uploader's EXIF (GPS included) while the
  variants carry none, so after ``IMAGEPIPE_ORIGINAL_RETENTION_DAYS`` (0: never) a ready
  image's original is deleted; the image stays, served from its variants, and its record
  says ``original_url = ""`` so the API hands out no link to it.
* :func:`remove_abandoned`: uploads asked for but never sent (pending past
  ``IMAGEPIPE_ABANDONED_UPLOAD_SECONDS``) and failed images (past
  ``IMAGEPIPE_FAILED_RETENTION_DAYS``) are erased like a user's erasure of them.

Each run handles at most ``limit`` images and returns what it did, so a beat schedule can
call it often and cheaply; a run that stops half-way is finished by the next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from app.catalog import ImageRecord, RecordNotFound, Status, mutate
from app.erasure import Receipt, erase_image
from app.invalidation import Invalidator, NoCdn
from app.services import Services

_DAY = 24 * 3600
EXPIRED_ORIGINAL_URL = ""


@dataclass
class RetentionReport:
    originals_deleted: list[str] = field(default_factory=list)
    images_erased: list[str] = field(default_factory=list)
    keys_deleted: int = 0


def expire_originals(
    services: Services, *, now: float | None = None, limit: int = 500
) -> RetentionReport:
    report = RetentionReport()
    days = services.settings.original_retention_days
    if days == 0:
        return report
    before = (time.time() if now is None else now) - days * _DAY
    for record in services.catalog.list_stale([Status.READY], updated_before=before, limit=limit):
        if record.original_url == EXPIRED_ORIGINAL_URL:
            continue  # already done (its record was saved after an earlier run)
        if services.originals.delete(record.original_key):
            report.keys_deleted += 1
        try:
            mutate(services.catalog, record.image_id, _mark_expired)
        except RecordNotFound:
            continue  # erased meanwhile
        report.originals_deleted.append(record.image_id)
    return report


def _mark_expired(record: ImageRecord) -> ImageRecord | None:
    if record.original_url == EXPIRED_ORIGINAL_URL:
        return None
    return record.evolve(original_url=EXPIRED_ORIGINAL_URL)


def remove_abandoned(
    services: Services,
    *,
    cdn: Invalidator | None = None,
    now: float | None = None,
    limit: int = 500,
) -> RetentionReport:
    settings = services.settings
    now = time.time() if now is None else now
    report = RetentionReport()
    stale = services.catalog.list_stale(
        [Status.PENDING], updated_before=now - settings.abandoned_upload_seconds, limit=limit
    )
    stale += services.catalog.list_stale(
        [Status.FAILED], updated_before=now - settings.failed_retention_days * _DAY, limit=limit
    )
    for record in stale:
        receipt: Receipt = erase_image(services, record, cdn or NoCdn())
        report.images_erased.append(record.image_id)
        report.keys_deleted += len(receipt.keys_deleted)
    return report
