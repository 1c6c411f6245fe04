"""Retention on a schedule: originals past their retention expire, abandoned uploads are erased."""

from __future__ import annotations

from app.invalidation import invalidator_from_settings
from app.retention import expire_originals, remove_abandoned
from tasks.celery_app import celery_app, services


@celery_app.task(name="imagepipe.retention", ignore_result=True, shared=False)
def retention() -> dict[str, int]:
    """Each run handles at most 500 images and is safe to repeat (app/retention.py)."""
    svc = services()
    expired = expire_originals(svc)
    removed = remove_abandoned(svc, cdn=invalidator_from_settings(svc.settings))
    return {
        "originals_deleted": len(expired.originals_deleted),
        "images_erased": len(removed.images_erased),
    }
