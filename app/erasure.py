"""Erasure (GDPR art. 17): an image, or every image of a user, gone from every store.

Order matters for resuming: blobs first, the catalog record last. A run that stops half-way
leaves the record, so the image is still listed and the next run (the same request again)
finds it and finishes; deleting what is already gone counts nothing and fails nothing.
A user is erased page by page (the first page each time, as erased records drop out of it),
so thousands of images never sit in memory at once.

Each erasure returns a receipt, also appended to the audit log (app/audit.py) without any
image content.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.catalog import ImageRecord, RecordNotFound
from app.invalidation import Invalidator
from app.names import WORK_PREFIX
from app.services import Services
from app.storage import BlobStore

PAGE = 100


@dataclass
class Receipt:
    """What an erasure removed: returned to the caller, and kept in the audit log."""

    scope: str  # "image" or "user"
    subject: str  # the image ID, or the user ID
    images: list[str] = field(default_factory=list)
    keys_deleted: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "images": 0,
            "originals": 0,
            "variants": 0,
            "work": 0,
            "records": 0,
        }
    )
    invalidation_ids: list[str] = field(default_factory=list)
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "subject": self.subject,
            "images": self.images,
            "keys_deleted": self.keys_deleted,
            "counts": self.counts,
            "invalidation_ids": self.invalidation_ids,
            "invalidation_id": self.invalidation_ids[0] if self.invalidation_ids else None,
            "time": self.time,
        }


def erase_image(services: Services, record: ImageRecord, cdn: Invalidator) -> Receipt:
    receipt = Receipt("image", record.image_id)
    paths = _erase_one(services, record, receipt)
    receipt.invalidation_ids = cdn.invalidate(paths)
    receipt.time = time.time()
    return receipt


def erase_user(services: Services, user_id: str, cdn: Invalidator) -> Receipt:
    """Every image of ``user_id``; safe to run again (idempotent) and to resume."""
    receipt = Receipt("user", user_id)
    paths: list[str] = []
    while True:
        page = services.catalog.list_by_user(user_id, limit=PAGE)
        if not page.items:
            break
        for record in page.items:
            paths += _erase_one(services, record, receipt)
    receipt.invalidation_ids = cdn.invalidate(paths)
    receipt.time = time.time()
    return receipt


def user_images(services: Services, user_id: str) -> Iterator[ImageRecord]:
    """Every record of the user, paging through the catalog."""
    cursor: str | None = None
    while True:
        page = services.catalog.list_by_user(user_id, limit=PAGE, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _erase_one(services: Services, record: ImageRecord, receipt: Receipt) -> list[str]:
    """Delete the image's blobs, then its record; the CDN paths it was served under."""
    image_id = record.image_id
    originals = {record.original_key, *_listed(services.originals, f"{image_id}/")}
    variants = {v.key for v in record.variants}
    if record.animated is not None:
        variants.add(record.animated.key)
    variants |= set(_listed(services.variants, f"{image_id}/"))
    work = set(_listed(services.variants, f"{WORK_PREFIX}/{image_id}/"))
    for store, keys, kind in (
        (services.originals, originals, "originals"),
        (services.variants, variants, "variants"),
        (services.variants, work, "work"),
    ):
        for key in sorted(keys):
            if store.delete(key):
                receipt.keys_deleted.append(f"{kind}:{key}")
                receipt.counts[kind] += 1
    try:
        removed = services.catalog.delete(image_id)
    except RecordNotFound:
        removed = False
    receipt.counts["records"] += int(removed)
    receipt.counts["images"] += 1
    receipt.images.append(image_id)
    return [f"/i/{image_id}", *(f"/i/{image_id}/{v.name}" for v in record.variants)]


def _listed(store: BlobStore, prefix: str) -> list[str]:
    return list(store.list(prefix))
