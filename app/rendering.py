"""Make one variant on its first request: what IMAGEPIPE_EAGER_VARIANTS leaves out of processing.

:func:`render_on_request` is the whole path, with no web framework in it: the embedded delivery
route calls it on a miss, and on AWS so does the API's ``/render/{id}/{name}``, CloudFront's
failover origin when the variants bucket answers 403/404 (docs/capacity.md, lever 4).

* **The same bytes as processing would have made.** The original is decoded exactly as the
  resize stage decodes it (the sandboxed child, DCT scaling, orientation, sRGB), resized by the
  same cascade over every width the plan has, and encoded by the same code with the same
  settings (SVT-AV1 in its forked child): the stored object is what an eager run stores.
* **Where the original is gone** (a retention rule expired it), the widest stored standard
  variant is the source instead: a second lossy generation, not byte-identical, logged.
* **Concurrency.** One render at a time per variant in a process (a second request waits, then
  reads what the first stored); at most IMAGEPIPE_RENDER_CONCURRENCY renders at once per
  process, past which :class:`RenderBusy` (503 with Retry-After). Renders of one variant in two
  processes both store the same bytes under the same key: idempotent.
* **Refusals before any work**: an unknown image or name, or a name this image does not have,
  is a 404; a failed image a 409 (:class:`RenderRefused`).
* **While the image is processing** a stored variant of a format the viewer takes stands in for
  one not stored yet (app/stand_in.py), rendering nothing; with none (a JPEG asked for: no JPEG
  is made up front by default), a recorded variant is rendered as usual, and an unrecorded one
  is 409 ``not_ready``.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from PIL import Image

from app import packs
from app.catalog import ImageRecord, RecordNotFound, Status, VariantRecord
from app.eager import plan_tier
from app.imaging import sandbox
from app.imaging.contained import render_contained
from app.imaging.encode import CONTENT_TYPES
from app.imaging.pipeline import pyramid
from app.imaging.plan import STANDARD_TIER, VariantSpec, plan_variants
from app.names import variant_key
from app.services import Services
from app.stand_in import stand_in
from app.storage import BlobNotFound
from edge.variants import FORMATS, IMMUTABLE_CACHE_CONTROL, parse_name

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = 2  # a render takes ~0.2-1 s: ask again soon


class RenderRefused(Exception):
    """No render for this request: ``status`` (404 or 409) and a machine-readable ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RenderBusy(Exception):
    """Every render slot of this process is taken: answer 503 with Retry-After."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Made:
    """A variant's bytes as stored, and whether this call rendered them.

    ``stand_in``: ``name`` is a stored variant served in place of the one asked for, which is
    not made yet while its image processes (app/stand_in.py); never to be cached, so no ``etag``.
    """

    name: str
    data: bytes
    etag: str
    content_type: str
    rendered: bool
    stand_in: bool = False


def render_on_request(
    services: Services, image_id: str, name: str, *, record: ImageRecord | None = None
) -> Made:
    """The stored bytes of ``image_id``'s variant ``name``, rendered and stored if missing.

    While the image is processing, a stored variant stands in for one not stored yet where
    app/stand_in.py finds one (``Made.stand_in``); else a recorded one is rendered and an
    unrecorded one is 409. ``record``: the image's record if the caller has just read it.
    """
    record, recorded = _check(services, image_id, name, record)
    if recorded is None:
        substitute = stood_in(services, record, name)
        if substitute is None:
            raise RenderRefused(409, "not_ready", f"image {image_id!r} is not processed yet")
        return substitute
    if recorded.offset is not None:
        packed = _read_packed(services, record, recorded)
        if packed is not None:
            return packed
    key = variant_key(image_id, name)  # a render is stored alone, never in a pack
    with _one_at_a_time(key):
        try:  # stored meanwhile (a request before this one), or eager after all
            info = services.variants.stat(key)
            return Made(name, services.variants.get(key), info.etag, _type(recorded), False)
        except BlobNotFound:
            pass
        substitute = stood_in(services, record, name)
        if substitute is not None:
            return substitute
        with _render_slot(services.settings.render_concurrency):
            data = _make(services, record, recorded)
            info = services.variants.put(
                key,
                data,
                content_type=_type(recorded),
                cache_control=IMMUTABLE_CACHE_CONTROL,
            )
    log.info("image %s: %s made on its first request (%d bytes)", image_id, name, len(data))
    return Made(name, data, info.etag, _type(recorded), True)


def _read_packed(services: Services, record: ImageRecord, recorded: VariantRecord) -> Made | None:
    """A variant made by processing, read from its pack (app/packs.py): on AWS every CloudFront
    miss of one lands here. A pack a reprocess replaced after ``record`` was read is gone, so
    the record is read once more; None (render it) if the variant is then not packed or its
    pack is gone as well."""
    for _ in range(2):
        try:
            data = packs.read(services.variants, recorded)
            return Made(recorded.name, data, recorded.etag, _type(recorded), False)
        except BlobNotFound:
            record, again = _check(services, record.image_id, recorded.name, None)
            if again is None or again.offset is None or again == recorded:
                return None
            recorded = again
    return None


def eager_specs(
    services: Services, record: ImageRecord, formats: tuple[str, ...]
) -> list[VariantSpec]:
    """The planned variants of ``formats`` that processing makes (IMAGEPIPE_EAGER_VARIANTS)."""
    assert record.width is not None
    planned = plan_variants(record.width, formats, height=record.height)
    return [s for s in planned if s.name in services.settings.eager_variants]


def on_request_names(
    services: Services, record: ImageRecord, *, skip: Collection[str] = ()
) -> list[str]:
    """The planned variant names IMAGEPIPE_EAGER_VARIANTS leaves to their first request.

    Every format's (AVIF's too, when on); ``skip`` names those made up front whatever the
    setting (the first paint).
    """
    return [s.name for s in _on_request_specs(services, record, skip)]


def on_request_records(
    services: Services,
    record: ImageRecord,
    sizes: Mapping[int, Image.Image],
    *,
    skip: Collection[str] = (),
) -> list[VariantRecord]:
    """Records of :func:`on_request_names`' variants, sized from the pyramid ``sizes``."""
    return [
        VariantRecord(
            name=s.name,
            format=s.format,
            width=sizes[s.width].width,
            height=sizes[s.width].height,
            bytes=0,
            key=variant_key(record.image_id, s.name),
            tier=s.tier,
            on_request=True,
        )
        for s in _on_request_specs(services, record, skip)
    ]


def _on_request_specs(
    services: Services, record: ImageRecord, skip: Collection[str]
) -> list[VariantSpec]:
    assert record.width is not None
    formats = tuple(f for f in FORMATS if services.settings.avif or f != "avif")
    eager = services.settings.eager_variants
    planned = plan_variants(record.width, formats, height=record.height)
    return [s for s in planned if s.name not in skip and s.name not in eager]


def drop_earlier(services: Services, record: ImageRecord, lazy: list[VariantRecord]) -> None:
    """Delete what an earlier run stored under names now left to first request (a reprocess).

    Made with that run's settings (or eagerly), it would otherwise be served as it is; a fresh
    image has nothing recorded under those names, so this deletes nothing.
    """
    names = {v.name for v in lazy}
    for earlier in record.variants:
        # A pack holds other variants too: it goes once no entry refers to it (app/packs.py).
        if earlier.name in names and earlier.offset is None:
            services.variants.delete(earlier.key)  # idempotent: gone is fine


def stood_in(services: Services, record: ImageRecord, name: str) -> Made | None:
    """The stored variant standing in for ``name`` while ``record`` processes, or ``None``.

    ``None`` where app/stand_in.py chooses none (the image is ready or failed; nothing of a
    format the viewer takes is stored yet) or the one chosen is gone (a reprocess or an erasure
    under way deleted it after the record was read).
    """
    substitute = stand_in(record, name)
    if substitute is None:
        return None
    try:
        data = packs.read(services.variants, substitute)
    except BlobNotFound:
        return None
    # No ETag: a stand-in is never cached, so nothing revalidates it.
    return Made(substitute.name, data, "", _type(substitute), False, stand_in=True)


def _check(
    services: Services, image_id: str, name: str, record: ImageRecord | None
) -> tuple[ImageRecord, VariantRecord | None]:
    """The record (read unless given) and its entry for ``name``; ``None`` if not recorded yet."""
    if parse_name(name) is None:
        raise RenderRefused(404, "not_found", f"{name!r} is not a variant name")
    if record is None:
        try:
            record = services.catalog.get(image_id)
        except RecordNotFound:
            raise RenderRefused(404, "not_found", f"no image {image_id!r}") from None
    if record.status is Status.FAILED:
        raise RenderRefused(409, "failed", f"image {image_id!r} failed processing")
    recorded = record.variant(name)
    if recorded is None or record.width is None or record.height is None:
        if record.status is Status.READY:
            raise RenderRefused(404, "not_found", f"image {image_id!r} has no variant {name!r}")
        return record, None  # not recorded yet: a stand-in, or 409
    # Ready, or processing with the variant already recorded (the fast formats' stage lists
    # what is left to first requests): the original is there and the plan is known.
    return record, recorded


def _type(recorded: VariantRecord) -> str:
    return CONTENT_TYPES[recorded.format]


def _make(services: Services, record: ImageRecord, recorded: VariantRecord) -> bytes:
    assert record.width is not None
    assert record.height is not None
    spec = _spec(record.width, record.height, recorded)
    try:
        with services.originals.local_copy(record.original_key) as path:
            master = sandbox.load_master(path, services.limits)
    except BlobNotFound:
        frame = _from_stored(services, record, spec)
    else:
        # The cascade over every planned width, as the resize stage makes it: the same frame.
        widths = [s.width for s in plan_variants(master.width, height=master.height)]
        frame = pyramid(master.image, widths)[spec.width]
    rendered = render_contained(
        {spec.width: frame}, [spec], services.encode_settings, services.limits
    )
    return rendered[0].data


def _spec(width: int, height: int, recorded: VariantRecord) -> VariantSpec:
    """The plan's spec of this variant, as processing planned it."""
    planned = plan_variants(width, (recorded.format,), height=height)
    spec = next((s for s in planned if s.name == recorded.name), None)
    if spec is None:  # recorded by an older plan
        return VariantSpec(recorded.name, recorded.format, recorded.width, plan_tier(recorded.name))
    return spec


def _from_stored(services: Services, record: ImageRecord, spec: VariantSpec) -> Image.Image:
    """The widest stored standard variant, resized to the spec's width (the original is gone)."""
    stored = [
        v
        for v in record.variants
        if v.tier == STANDARD_TIER and not v.on_request and v.width >= spec.width
    ]
    if not stored:
        raise RenderRefused(
            404, "not_found", f"image {record.image_id!r} has nothing to make it from"
        )
    source = max(stored, key=lambda v: (v.width, v.format != "jpg"))
    log.warning(
        "image %s: original gone; %s made from %s (not the bytes processing makes)",
        record.image_id,
        spec.name,
        source.name,
    )
    with Image.open(io.BytesIO(packs.read(services.variants, source))) as opened:
        image = opened.convert("RGBA" if "A" in opened.getbands() else "RGB")
    return pyramid(image, [spec.width])[spec.width]


# One lock per variant being rendered in this process; entries go when their render is done.
_locks: dict[str, tuple[threading.Lock, int]] = {}
_locks_guard = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


@contextmanager
def _one_at_a_time(key: str) -> Iterator[None]:
    with _locks_guard:
        lock, users = _locks.get(key, (threading.Lock(), 0))
        _locks[key] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _locks_guard:
            lock, users = _locks[key]
            if users == 1:
                del _locks[key]
            else:
                _locks[key] = (lock, users - 1)


@contextmanager
def _render_slot(limit: int) -> Iterator[None]:
    with _locks_guard:
        slots = _slots.setdefault(limit, threading.BoundedSemaphore(limit))
    if not slots.acquire(blocking=False):
        raise RenderBusy(f"{limit} renders already under way")
    try:
        yield
    finally:
        slots.release()
