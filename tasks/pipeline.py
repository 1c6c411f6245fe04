"""One Celery chain per image: resize -> compress -> encode -> record, all by image ID."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from celery import Task, chain
from celery.exceptions import SoftTimeLimitExceeded

from app import processing
from app.catalog import RecordNotFound
from app.catalog.base import CatalogError
from app.imaging.errors import Reason
from app.storage import StorageError
from tasks.celery_app import celery_app, services

log = logging.getLogger(__name__)

_RETRYABLE = (StorageError, CatalogError)


class StageTask(Task):  # type: ignore[misc]
    """Idempotent, late-acknowledged, time-limited; backend hiccups retry, the rest fail."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = _RETRYABLE
    dont_autoretry_for = (RecordNotFound,)
    retry_backoff = 2
    retry_backoff_max = 60
    max_retries = 5

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        image_id = args[0] if args else kwargs.get("image_id")
        if image_id and not isinstance(exc, RecordNotFound):
            reason = Reason.DECODE_TIMEOUT.value if _is_timeout(exc) else "processing_error"
            try:
                processing.fail(services(), image_id, reason, f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("could not record the failure of %s", image_id)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, SoftTimeLimitExceeded) or type(exc).__name__ == "TimeLimitExceeded"


def image_id_from_key(key: str) -> str:
    """Original keys are the image ID; S3 events URL-encode them."""
    return unquote(key).rsplit("/", 1)[-1]


def start_chain(image_id: str) -> None:
    chain(
        resize.si(image_id), compress.si(image_id), encode.si(image_id), record.si(image_id)
    ).apply_async()


@celery_app.task(name="imagepipe.ingest", base=StageTask)
def ingest(key: str) -> str | None:
    """The ObjectCreated event: claim the image, then start its chain (once)."""
    image_id = image_id_from_key(key)
    try:
        claimed = processing.claim(services(), image_id)
    except RecordNotFound:
        log.warning("object %s has no catalog record; ignored", key)
        return None
    if claimed:
        start_chain(image_id)
        return image_id
    log.info("image %s already claimed or finished; event ignored", image_id)
    return None


@celery_app.task(name="imagepipe.resize", base=StageTask)
def resize(image_id: str) -> bool:
    return _stage(processing.resize, image_id)


@celery_app.task(name="imagepipe.compress", base=StageTask)
def compress(image_id: str) -> bool:
    return _stage(processing.compress, image_id)


@celery_app.task(name="imagepipe.encode", base=StageTask)
def encode(image_id: str) -> bool:
    return _stage(processing.encode, image_id)


@celery_app.task(name="imagepipe.record", base=StageTask)
def record(image_id: str) -> bool:
    return _stage(processing.record, image_id)


def _stage(step: Any, image_id: str) -> bool:
    try:
        return bool(step(services(), image_id))
    except SoftTimeLimitExceeded:
        processing.fail(
            services(), image_id, Reason.DECODE_TIMEOUT.value, "processing exceeded its time limit"
        )
        return False
