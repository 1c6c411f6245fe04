"""The processing stages, as plain functions of (services, image_id).

Celery tasks in tasks/ call these; so could anything else. Each stage is idempotent: it reads the
catalog first, returns early when there is nothing to do, writes deterministic keys, and saves
the record with a version check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

from PIL import Image

from app import logs, observe, packs, stored_variants, working_pyramid
from app.catalog import (
    ImageRecord,
    Placeholder,
    Status,
    VariantRecord,
    change_once,
    mutate,
)
from app.catalog.base import CatalogError
from app.imaging import sandbox
from app.imaging.contained import render_contained
from app.imaging.errors import ImageRejected, Reason
from app.imaging.pipeline import Master, render
from app.imaging.placeholder import PLACEHOLDER_BOX, make_placeholder
from app.imaging.plan import FAST_FORMATS, SLOW_FORMATS, plan_variants
from app.rendering import eager_specs, on_request_names
from app.services import Services
from app.settings import Settings
from app.storage import BlobNotFound, StorageError
from app.working_pyramid import master_key
from edge.variants import parse_name

log = logging.getLogger(__name__)

# What a first paint needs, so it is stored and recorded before everything else.
FIRST_VARIANTS = ("160-lq.webp", "640.webp")


def chain_stages(settings: Settings) -> tuple[str, ...]:
    """The stages of an image's chain, in order: `compress` only when it has variants to make,
    `record` only when resize stores the pyramid (IMAGEPIPE_WORKING_PYRAMID) for it to drop.

    It makes the WebPs and JPEGs past the first paint that IMAGEPIPE_EAGER_VARIANTS makes up
    front. With none (the default with AVIF on) a task that would only read the pyramid back
    costs 3 SQS requests, 2 catalog reads, a write and an 11 MB GET an image
    (docs/capacity.md), so the chain leaves it out.
    """
    fast = any(
        variant.format in FAST_FORMATS and variant.name not in FIRST_VARIANTS
        for name in settings.eager_variants.names
        if (variant := parse_name(name)) is not None
    )
    stages = ("resize", "compress", "encode", "record") if fast else ("resize", "encode", "record")
    # Encode's write marks the image ready; `record` is left to drop a stored pyramid. With
    # none stored (S3) it would read the record and do nothing: 3 SQS requests and a read.
    return stages if settings.stores_pyramid else stages[:-1]


def claim(
    services: Services, image_id: str, *, force: bool = False, version: int | None = None
) -> int | None:
    """Move a record to `processing` and return its attempt number, which fences the chain.

    None when it is finished or someone is on it already. Every stage of a chain carries the
    attempt it was started for, and does nothing once the record has moved to a later attempt,
    so a requeued image is never processed by two chains at once. With ``version``, only a
    record still at that version is claimed (the reconciler's plan, read a moment before).
    """
    stale_before = time.time() - services.settings.stuck_after_seconds

    def change(record: ImageRecord) -> ImageRecord | None:
        if version is not None and record.version != version:
            return None
        if record.status in (Status.READY, Status.FAILED) and not force:
            return None
        if record.status is Status.PROCESSING and record.updated_at > stale_before and not force:
            return None
        return _next_attempt(record)

    return _claimed_attempt(services, image_id, change)


def claim_again(services: Services, image_id: str, *, untouched_since: float) -> int | None:
    """Claim a finished image to process it again (`imagepipe reprocess`); its attempt number.

    None unless the record is ready or failed and was last written before ``untouched_since``
    (a record written since was processed or claimed after the caller's run began). A pending
    or processing image is left to the chain that has it. Its old variants stay recorded and
    stored until the new chain writes over the names it still makes.
    """

    def change(record: ImageRecord) -> ImageRecord | None:
        if record.status not in (Status.READY, Status.FAILED):
            return None
        if record.updated_at >= untouched_since:
            return None
        return _next_attempt(record)

    return _claimed_attempt(services, image_id, change)


def _next_attempt(record: ImageRecord) -> ImageRecord:
    return record.evolve(
        status=Status.PROCESSING,
        attempts=record.attempts + 1,
        failure_reason=None,
        failure_detail=None,
    )


def _claimed_attempt(
    services: Services, image_id: str, change: Callable[[ImageRecord], ImageRecord | None]
) -> int | None:
    claimed = change_once(services.catalog, image_id, change)
    return claimed.attempts if claimed is not None else None


@logs.scoped
def resize(services: Services, image_id: str, attempt: int | None = None) -> bool:
    """Decode once, resize every width once, and publish the first paint.

    The stage ends with what a first paint needs (the placeholder, 160-lq.webp and 640.webp)
    stored and recorded: those come from pixels this stage holds anyway, so a viewer does not wait
    for the next stage. Every width a variant needs is stored as one raw pyramid for the encode
    stages where IMAGEPIPE_WORKING_PYRAMID says so (a local folder); on S3 they decode again.
    """
    record = _active(services, image_id, attempt)
    if record is None:
        return False
    master = _decode_original(services, record)
    if master is None:
        return False
    observe.current().bytes_in(master.info.bytes)
    settings = services.encode_settings
    sizes = working_pyramid.of(master)
    first = [
        s
        for s in plan_variants(master.width, FAST_FORMATS, height=master.height)
        if s.name in FIRST_VARIANTS
    ]
    with ThreadPoolExecutor(2, thread_name_prefix="resize") as side:
        hint = side.submit(make_placeholder, _placeholder_source(sizes))
        # The pyramid (~13 MB for 12 MP) is stored beside the first paint, unless encode is to
        # decode the original again (IMAGEPIPE_WORKING_PYRAMID).
        saved = side.submit(working_pyramid.save, services, image_id, sizes)
        stored = stored_variants.store(services, image_id, render(sizes, first, settings))
        # The variants left to their first request, every format (AVIF's too), sized from the
        # pyramid here, so a chain without compress records them in the write it makes anyway.
        lazy = stored_variants.on_request(
            services, record.evolve(width=master.width, height=master.height), sizes, FIRST_VARIANTS
        )
        placeholder = Placeholder(
            hint.result().thumbhash, hint.result().data_uri, hint.result().dominant_color
        )
        # Recorded before the pyramid is stored; if its PUT fails, a rerun writes the same.
        done = _update(
            services,
            record,
            attempt,
            lambda r: stored_variants.with_variants(r, stored + lazy).evolve(
                format=master.info.format.name,
                width=master.width,
                height=master.height,
                size=max(1, round(master.info.bytes / 1024)),
                placeholder=placeholder,
            ),
        )
        packs.drop_replaced(services.variants, record, done)  # a reprocess's older packs
        saved.result()  # the next stage reads it: the stage ends only once it is stored
    return True


def _working_sizes(services: Services, record: ImageRecord) -> working_pyramid.Sizes | None:
    decode = partial(_decode_original, services, record)
    return working_pyramid.load(services, record.image_id, decode)


def _decode_original(services: Services, record: ImageRecord) -> Master | None:
    """The original, decoded and resized to the master width; None once a failure is recorded."""
    image_id = record.image_id
    try:
        with services.originals.local_copy(record.original_key) as path, observe.timed("decode"):
            # A forked child with its own time and memory budget: a hostile file costs one child.
            return sandbox.load_master(path, services.limits)
    except ImageRejected as rejected:
        fail(services, image_id, rejected.reason.value, rejected.detail)
    except BlobNotFound:
        fail(services, image_id, "upload_missing", "the original is not in the store")
    except (StorageError, CatalogError):
        raise
    except MemoryError:
        fail(services, image_id, Reason.MEMORY_LIMIT.value, "decoding exceeded the memory ceiling")
    except Exception as exc:  # a decoder bug on hostile bytes is a bad file
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            raise  # the task layer records decode_timeout; app/ does not import Celery
        fail(services, image_id, Reason.CORRUPT.value, f"{type(exc).__name__}: {exc}")
    return None


@logs.scoped
def compress(services: Services, image_id: str, attempt: int | None = None) -> bool:
    """The rest of the fast formats (WebP, JPEG) that IMAGEPIPE_EAGER_VARIANTS makes up front.

    With none to make it reads nothing and writes nothing (the chain leaves it out then:
    `chain_stages`).
    """
    record = _active(services, image_id, attempt)
    if record is None or record.width is None:
        return False
    specs = [s for s in eager_specs(services, record, FAST_FORMATS) if s.name not in FIRST_VARIANTS]
    if not specs:
        return True
    sizes = _working_sizes(services, record)
    if sizes is None:
        return False
    stored = stored_variants.store(
        services, image_id, render(sizes, specs, services.encode_settings)
    )
    done = _update(services, record, attempt, lambda r: stored_variants.with_variants(r, stored))
    packs.drop_replaced(services.variants, record, done)
    return True


@logs.scoped
def encode(services: Services, image_id: str, attempt: int | None = None) -> bool:
    """The slow formats (AVIF) and an animation's animated WebP; then the image is ready.

    The write that records the AVIFs also marks the image ready: one catalog write per image
    fewer than a write of its own in `record` (docs/capacity.md), and nothing is left to make.
    """
    record = _active(services, image_id, attempt)
    if record is None or record.width is None:
        return False
    stored: list[VariantRecord] = []
    specs = eager_specs(services, record, SLOW_FORMATS) if services.settings.avif else []
    # A chain whose resize ran before resize recorded the variants left to first request.
    unlisted = not set(on_request_names(services, record, skip=FIRST_VARIANTS)) <= {
        v.name for v in record.variants
    }
    sizes: working_pyramid.Sizes = {}
    if specs or unlisted:
        found = _working_sizes(services, record)
        if found is None:
            return False
        sizes = found
        if unlisted:
            stored += stored_variants.on_request(services, record, sizes, FIRST_VARIANTS)
    if specs:
        # SVT-AV1 in a warm child process: its crash near the memory ceiling costs the child,
        # not this pool process (app/imaging/contained.py, app/imaging/warm.py).
        rendered = render_contained(sizes, specs, services.encode_settings, services.limits)
        stored += stored_variants.store(services, image_id, rendered)
    animated = stored_variants.animated(services, record)
    done = _update(
        services,
        record,
        attempt,
        lambda r: _ready(
            services, stored_variants.with_variants(r, stored).evolve(animated=animated)
        ),
    )
    packs.drop_replaced(services.variants, record, done)
    if done.status is Status.READY:
        _report_ready(done)
    return True


@logs.scoped
def record(services: Services, image_id: str, attempt: int | None = None) -> bool:
    """Drop the working master of a ready image, if resize stored one (and mark it ready, if
    `encode` did not)."""
    current = services.catalog.get(image_id)
    if current.status is Status.READY and attempt in (None, current.attempts):
        working_pyramid.drop(services, image_id)
        return True
    current_or_none = _active(services, image_id, attempt)
    if current_or_none is None or current_or_none.width is None:
        return False
    # A chain whose encode stage ran before encode marked images ready (an upgrade mid-chain).
    _update(services, current_or_none, attempt, lambda r: _ready(services, r))
    working_pyramid.drop(services, image_id)
    _report_ready(current)
    return True


def _report_ready(record: ImageRecord) -> None:
    """The upload-to-ready time, to the metrics and the log, where the image became ready."""
    seconds = max(0.0, time.time() - record.upload_time)
    observe.current().ready(seconds)
    log.info("image %s ready %.1f s after its upload was created", record.image_id, seconds)


def _ready(services: Services, record: ImageRecord) -> ImageRecord:
    return record.evolve(status=Status.READY, processed_url=services.delivery_url(record.image_id))


def fail(services: Services, image_id: str, reason: str, detail: str) -> None:
    """Record why; keep the original (nothing already stored is lost)."""
    log.warning("image %s failed: %s (%s)", image_id, reason, detail)
    newly_failed = [False]  # counted once, whichever try of the versioned write wins

    def change(r: ImageRecord) -> ImageRecord | None:
        newly_failed[0] = r.status not in (Status.READY, Status.FAILED)
        if r.status is Status.READY:
            return None
        return r.evolve(status=Status.FAILED, failure_reason=reason, failure_detail=detail[:500])

    mutate(services.catalog, image_id, change)
    if newly_failed[0]:
        observe.current().failed(reason)
    with _ignore_storage_errors():
        services.variants.delete(master_key(image_id))


def _placeholder_source(sizes: dict[int, Image.Image]) -> Image.Image:
    """The smallest size that still fills the placeholder's 100 px box (or the largest there is)."""
    fitting = [im for im in sizes.values() if max(im.size) >= PLACEHOLDER_BOX]
    if not fitting:
        return sizes[max(sizes)]
    return min(fitting, key=lambda im: im.width)


def _active(services: Services, image_id: str, attempt: int | None) -> ImageRecord | None:
    record = services.catalog.get(image_id)
    # The stage's lines from here on name the owner by a keyed hash (each stage is
    # @logs.scoped, so the binding ends with it).
    logs.bind(user_id=logs.hashed_user(services.settings.secret_key.reveal(), record.user_id))
    if record.request_id and record.attempts == 1:
        # The upload's first chain: under its upload's request ID, whatever started it (the S3
        # event's ingest has its own). A reprocess or a requeue keeps the ID it was sent with.
        logs.bind(request_id=record.request_id)
    if not _current(record, attempt):
        log.info(
            "image %s is %s at attempt %d (this task: %s); stage skipped",
            image_id,
            record.status.value,
            record.attempts,
            attempt,
        )
        return None
    return record


def _current(record: ImageRecord, attempt: int | None) -> bool:
    """Still processing, and still on this chain's attempt (None: an unfenced caller)."""
    return record.status is Status.PROCESSING and attempt in (None, record.attempts)


def _update(
    services: Services,
    known: ImageRecord,
    attempt: int | None,
    change: Callable[[ImageRecord], ImageRecord],
) -> ImageRecord:
    """Save on the version the stage read at its start, one read fewer (docs/capacity.md); a
    record changed since (a lease renewal, a failure, a requeue) is read again."""

    def guarded(r: ImageRecord) -> ImageRecord | None:
        # Failed, finished or requeued meanwhile: do not regress it or write over a newer chain.
        return change(r) if _current(r, attempt) else None

    return mutate(services.catalog, known.image_id, guarded, known=known)


@contextmanager
def _ignore_storage_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        log.warning("cleanup skipped: %s", exc)
