"""One use per upload form, decided by a conditional write in the catalog.

Checking "still pending and nothing stored yet" and then storing is a race: four posts of one
form at once were all accepted. The catalog's versioned save makes the claim atomic instead: of
any number of racing posts exactly one moves the record to received, and only it stores bytes.
"""

from __future__ import annotations

import time

from app.catalog import ImageCatalog, ImageRecord, Status, change_once, mutate


def receive(catalog: ImageCatalog, image_id: str) -> bool:
    """Take one use of an upload form: True for exactly one of any number of racing callers."""

    def change(record: ImageRecord) -> ImageRecord | None:
        if record.status is not Status.PENDING or record.received_at is not None:
            return None
        return record.evolve(received_at=time.time())

    return change_once(catalog, image_id, change) is not None


def unreceive(catalog: ImageCatalog, image_id: str) -> None:
    """Give a form its use back when its bytes could not be stored."""
    mutate(
        catalog,
        image_id,
        lambda r: r.evolve(received_at=None) if r.status is Status.PENDING else None,
    )
