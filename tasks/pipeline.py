"""One Celery chain per image: resize -> (compress ->) encode -> record, all by image ID."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, chain
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError
from celery.signals import task_failure

from app import lease, processing
from app.catalog import RecordNotFound, VersionConflict
from app.catalog.base import CatalogUnavailable
from app.imaging.errors import Reason
from app.storage import StorageUnavailable
from app.storage.base import image_id_from_key
from tasks.celery_app import celery_app, services

log = logging.getLogger(__name__)

# Passing trouble (throttling, 5xx, resets, a locked database, a lost race): retried here with
# jittered backoff, and if it outlasts the retries, left `processing` for the reconciler, never
# recorded as a failure. Anything else from the stores is permanent and fails the image.
_TRANSIENT = (StorageUnavailable, CatalogUnavailable, VersionConflict)


class StageTask(Task):  # type: ignore[misc]
    """Idempotent, late-acknowledged, time-limited; backend hiccups retry, the rest fail.

    How each way of failing ends (checked by tests/e2e/test_hostile_worker.py):

    - an exception in the stage: `on_failure` runs in the pool process and records the failure;
    - the soft time limit: `_stage` records `decode_timeout`;
    - the hard time limit: the pool process is killed; Celery (5.7) then calls `on_failure` with
      TimeLimitExceeded in the worker's main process, which records `decode_timeout`, and the
      message is acknowledged (task_acks_on_timeout), not delivered again;
    - the pool process dies (SIGKILL by the OOM killer, a segfault): Celery sees WorkerLostError
      after about 10 s. Requeueing it would kill a pool process every 10 s for as long as the
      message lives (measured: it never stops on the filesystem broker), so the task is retried
      `max_retries` times and then `_record_lost_worker` records `worker_lost`.
    """

    acks_late = True
    reject_on_worker_lost = True  # still used if sending the retry fails
    retry_on_worker_lost = True
    default_retry_delay = 5  # seconds before a task whose pool process died runs again
    autoretry_for = _TRANSIENT
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 5

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        image_id = _image_id(args, kwargs)
        if isinstance(exc, _TRANSIENT):
            log.warning(
                "image %s: still failing after retries (%s); the reconciler requeues it",
                image_id,
                exc,
            )
            return
        if image_id and not isinstance(exc, RecordNotFound):
            reason = Reason.DECODE_TIMEOUT.value if _is_timeout(exc) else "processing_error"
            _fail(image_id, reason, f"{type(exc).__name__}: {exc}")


@task_failure.connect
def _record_lost_worker(
    sender: Any = None, exception: BaseException | None = None, args: Any = (), **rest: Any
) -> None:
    """The last retry's pool process died too: Celery sends task_failure, not on_failure."""
    if isinstance(sender, StageTask) and isinstance(exception, WorkerLostError):
        image_id = _image_id(args, rest.get("kwargs") or {})
        if image_id:
            detail = f"a worker process died on this image {sender.max_retries + 1} times"
            _fail(image_id, Reason.WORKER_LOST.value, f"{detail} ({exception})")


def _image_id(args: Any, kwargs: Any) -> str | None:
    value = args[0] if args else kwargs.get("image_id")
    return value if isinstance(value, str) else None


def _fail(image_id: str, reason: str, detail: str) -> None:
    try:
        processing.fail(services(), image_id, reason, detail)
    except Exception:
        log.exception("could not record the failure of %s", image_id)


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded)


def start_chain(image_id: str, attempt: int | None = None) -> None:
    """The chain for one claimed attempt: its tasks do nothing once the image moved past it.

    `compress` is in it only when the settings make a WebP or JPEG past the first paint up
    front (`processing.chain_stages`); by default every one is left to its first request.
    """
    tasks = {"resize": resize, "compress": compress, "encode": encode, "record": record}
    stages = processing.chain_stages(services().settings)
    chain(*(tasks[stage].si(image_id, attempt) for stage in stages)).apply_async()


@celery_app.task(name="imagepipe.ingest", base=StageTask, shared=False)
def ingest(key: str) -> str | None:
    """The ObjectCreated event: claim the image, then start its chain (once)."""
    image_id = image_id_from_key(key)
    try:
        claimed = processing.claim(services(), image_id)
    except RecordNotFound:
        # Every upload form is recorded before it is handed out, so an original without a record
        # was erased meanwhile or never ours: keeping it would keep bytes nobody can see or erase.
        removed = services().originals.delete(image_id)
        log.warning("object %s has no catalog record; %s", key, "removed" if removed else "gone")
        return None
    if claimed is not None:
        start_chain(image_id, claimed)
        return image_id
    log.info("image %s already claimed or finished; event ignored", image_id)
    return None


@celery_app.task(name="imagepipe.process", acks_late=True, shared=False)
def process(image_id: str, attempt: int) -> None:
    """Start the chain of an attempt claimed elsewhere (`imagepipe reprocess`, `reconcile`).

    Should sending fail, the record stays `processing` and the reconciler requeues it.
    """
    start_chain(image_id, attempt)


@celery_app.task(name="imagepipe.resize", base=StageTask, shared=False)
def resize(image_id: str, attempt: int | None = None) -> bool:
    return _stage(processing.resize, image_id, attempt)


@celery_app.task(name="imagepipe.compress", base=StageTask, shared=False)
def compress(image_id: str, attempt: int | None = None) -> bool:
    return _stage(processing.compress, image_id, attempt)


@celery_app.task(name="imagepipe.encode", base=StageTask, shared=False)
def encode(image_id: str, attempt: int | None = None) -> bool:
    return _stage(processing.encode, image_id, attempt)


@celery_app.task(name="imagepipe.record", base=StageTask, shared=False)
def record(image_id: str, attempt: int | None = None) -> bool:
    return _stage(processing.record, image_id, attempt)


def _stage(step: Any, image_id: str, attempt: int | None) -> bool:
    try:
        with lease.held(services(), image_id, attempt):
            return bool(step(services(), image_id, attempt))
    except SoftTimeLimitExceeded:
        processing.fail(
            services(), image_id, Reason.DECODE_TIMEOUT.value, "processing exceeded its time limit"
        )
        return False
