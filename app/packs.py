"""Several variants of one image in one stored object: one S3 PUT for a stage, not one each.

S3 bills a PUT at 12.5 times a GET, and a variant is written once but read only on a CDN miss,
so a stage stores its variants as one pack and records each variant's offset and length in it
(docs/capacity.md, lever 5). Delivery reads a variant back with one ranged GET. The pack's key
names its content (a digest), so a stage run again stores the same bytes under the same key, and
a reprocess that encodes differently writes a new pack instead of changing the bytes an older
record points into; the older pack is deleted once no record entry refers to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.catalog import ImageRecord, VariantRecord
from app.storage import BlobStore

# Never a variant name (edge/variants.py), so the edge answers a request for it with a 404.
PACK_PREFIX = "pack-"
_DIGEST_CHARS = 20


@dataclass(frozen=True)
class Pack:
    """The bytes of a pack and where each part starts in them."""

    data: bytes
    offsets: tuple[int, ...]


def build(parts: Sequence[bytes]) -> Pack:
    offsets, at = [], 0
    for part in parts:
        offsets.append(at)
        at += len(part)
    return Pack(b"".join(parts), tuple(offsets))


def pack_key(image_id: str, data: bytes) -> str:
    return f"{image_id}/{PACK_PREFIX}{hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]}"


def etag(data: bytes) -> str:
    """What S3 (or the folder store) would give the variant stored alone: its MD5, so a
    client's cached copy revalidates the same whether the variant is packed or not."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def read(store: BlobStore, variant: VariantRecord) -> bytes:
    """The variant's bytes: its own object, or its range of a pack (BlobNotFound if gone)."""
    if variant.offset is None:
        return store.get(variant.key)
    return store.read_range(variant.key, variant.offset, variant.bytes)


def replaced(before: ImageRecord, after: ImageRecord) -> set[str]:
    """The packs ``before`` refers to and ``after`` no longer does (a reprocess wrote new ones)."""
    return _pack_keys(_entries(before)) - _pack_keys(_entries(after))


def drop_replaced(store: BlobStore, before: ImageRecord, after: ImageRecord) -> None:
    for key in sorted(replaced(before, after)):
        store.delete(key)  # idempotent: gone is fine


def _entries(record: ImageRecord) -> list[VariantRecord]:
    return [*record.variants, *([record.animated] if record.animated else [])]


def _pack_keys(variants: Iterable[VariantRecord]) -> set[str]:
    return {v.key for v in variants if v.offset is not None}
