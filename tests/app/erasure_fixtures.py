"""A user's images as the pipeline leaves them: original, variants, working files, record."""

from __future__ import annotations

from app.catalog import ImageRecord, Status, VariantRecord
from app.services import Services

NAMES = ("160-lq.webp", "640.webp", "640.jpg")


def stored_image(services: Services, image_id: str, user_id: str, *, t: float = 1.0) -> str:
    services.originals.put(
        image_id, b"\xff\xd8 original of " + user_id.encode(), content_type="image/jpeg"
    )
    variants = []
    for name in NAMES:
        key = f"{image_id}/{name}"
        services.variants.put(key, f"{user_id}:{name}".encode(), content_type="image/webp")
        variants.append(VariantRecord(name, "webp", 640, 480, 10, key))
    # A half-finished run leaves its working master behind.
    services.variants.put(
        f"_work/{image_id}/master.raw", b"raw", content_type="application/octet-stream"
    )
    record = ImageRecord(
        image_id=image_id,
        user_id=user_id,
        upload_time=t,
        original_url=services.originals.url_for(image_id),
        original_key=image_id,
        content_type="image/jpeg",
        filename=f"{image_id}.jpg",
        status=Status.READY,
        variants=tuple(variants),
    )
    services.catalog.add(record)
    return image_id


def keys_of(services: Services, image_ids: set[str]) -> list[str]:
    """Every stored key, in either store, that belongs to one of image_ids."""
    found = []
    for store in (services.originals, services.variants):
        for key in store.list():
            parts = key.split("/")
            if parts[0] in image_ids or (parts[0] == "_work" and parts[1] in image_ids):
                found.append(key)
    return found
