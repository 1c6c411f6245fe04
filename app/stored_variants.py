"""Storing the variants a processing stage made, and the catalog records describing them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from PIL import Image

from app import observe, packs
from app.catalog import ImageRecord, VariantRecord
from app.imaging.animation import ANIMATED_NAME, make_animation
from app.imaging.encode import CONTENT_TYPES
from app.imaging.pipeline import Rendered
from app.names import variant_key
from app.rendering import drop_earlier, on_request_records
from app.services import Services
from edge.variants import IMMUTABLE_CACHE_CONTROL

log = logging.getLogger(__name__)


def store(services: Services, image_id: str, rendered: Iterable[Rendered]) -> list[VariantRecord]:
    """Store a stage's rendered variants and return their records: in one pack when there are
    several and IMAGEPIPE_PACK_VARIANTS is on (app/packs.py), else each under its own key
    (cached for good)."""
    items = list(rendered)
    out: dict[str, int] = {}
    for item in items:
        observe.step_done("encode", item.seconds, item.spec.format)
        out[item.spec.format] = out.get(item.spec.format, 0) + len(item.data)
    if services.settings.pack_variants and len(items) > 1:
        stored = _store_packed(services, image_id, items)
    else:
        stored = [_store_alone(services, image_id, item) for item in items]
    for fmt, count in out.items():
        observe.current().bytes_out(fmt, count)
    return stored


def _store_alone(services: Services, image_id: str, item: Rendered) -> VariantRecord:
    key = variant_key(image_id, item.spec.name)
    info = services.variants.put(
        key,
        item.data,
        content_type=CONTENT_TYPES[item.spec.format],
        cache_control=IMMUTABLE_CACHE_CONTROL,
    )
    return _record(item, key, info.etag)


def _store_packed(services: Services, image_id: str, items: list[Rendered]) -> list[VariantRecord]:
    pack = packs.build([item.data for item in items])
    key = packs.pack_key(image_id, pack.data)
    # Never served as it is: the edge refuses its name, delivery reads ranges of it.
    services.variants.put(key, pack.data, content_type="application/octet-stream")
    return [
        _record(item, key, packs.etag(item.data), offset=offset)
        for item, offset in zip(items, pack.offsets, strict=True)
    ]


def _record(item: Rendered, key: str, etag: str, *, offset: int | None = None) -> VariantRecord:
    return VariantRecord(
        name=item.spec.name,
        format=item.spec.format,
        width=item.width,
        height=item.height,
        bytes=len(item.data),
        key=key,
        etag=etag,
        tier=item.spec.tier,
        offset=offset,
    )


def with_variants(record: ImageRecord, new: list[VariantRecord]) -> ImageRecord:
    """``record`` with ``new`` added, replacing any recorded under the same names."""
    names = {v.name for v in new}
    kept = [v for v in record.variants if v.name not in names]
    return record.evolve(
        variants=tuple(sorted(kept + new, key=lambda v: (v.tier, v.width, v.format)))
    )


def on_request(
    services: Services,
    record: ImageRecord,
    sizes: dict[int, Image.Image],
    skip: tuple[str, ...],
) -> list[VariantRecord]:
    """Records of the variants left to their first request (``skip``: those made whatever the
    setting); what an earlier run stored under those names is deleted (a reprocess with other
    settings)."""
    lazy = on_request_records(services, record, sizes, skip=skip)
    drop_earlier(services, record, lazy)
    return lazy


def animated(services: Services, record: ImageRecord) -> VariantRecord | None:
    """Store the animated WebP of an animated GIF or WebP original (None for anything else)."""
    if record.format not in ("gif", "webp"):
        return None
    with services.originals.local_copy(record.original_key) as path:
        try:
            animation = make_animation(path)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            log.warning("image %s: no animated variant (%s)", record.image_id, exc)
            return None
    if animation is None:
        return None
    key = variant_key(record.image_id, ANIMATED_NAME)
    info = services.variants.put(
        key, animation.data, content_type="image/webp", cache_control=IMMUTABLE_CACHE_CONTROL
    )
    return VariantRecord(
        name=ANIMATED_NAME,
        format="webp",
        width=animation.width,
        height=animation.height,
        bytes=len(animation.data),
        key=key,
        etag=info.etag,
        tier="animated",
    )
