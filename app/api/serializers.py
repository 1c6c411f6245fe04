"""The JSON shape of a catalog record as the API shows it."""

from __future__ import annotations

from typing import Any

from app.catalog import ImageRecord
from app.delivery.manifest import delivery_block
from app.delivery.signing import Grant
from app.services import Services
from app.timestamps import iso_utc


def iso(epoch: float) -> str:
    return iso_utc(epoch, "milliseconds")


def image_view(record: ImageRecord, services: Services, original_url: str | None) -> dict[str, Any]:
    """The record as its owner sees it; original_url is a short-lived download link."""
    placeholder = record.placeholder
    # One grant per view: every URL of the image carries the same signature (if private).
    grant = services.signer.grant(record.image_id) if record.variants else Grant()
    processed = record.processed_url
    return {
        "image_id": record.image_id,
        "user_id": record.user_id,
        "status": record.status.value,
        "failure_reason": record.failure_reason,
        "failure_detail": record.failure_detail,
        "filename": record.filename,
        "content_type": record.content_type,
        "upload_time": iso(record.upload_time),
        "updated_at": iso(record.updated_at),
        "version": record.version,
        "original_url": original_url,
        "processed_url": None if processed is None else grant.apply(processed),
        "format": record.format,
        "size": record.size,
        "width": record.width,
        "height": record.height,
        "placeholder": None
        if placeholder is None
        else {
            "thumbhash": placeholder.thumbhash,
            "data_uri": placeholder.data_uri,
            "dominant_color": placeholder.dominant_color,
        },
        "variants": [
            {
                "name": v.name,
                "format": v.format,
                "width": v.width,
                "height": v.height,
                "bytes": None if v.on_request else v.bytes,
                "tier": v.tier,
                "on_request": v.on_request,
                "url": grant.apply(services.delivery_url(record.image_id, v.name)),
            }
            for v in record.variants
        ],
        "delivery": delivery_block(record, services.delivery_url, grant),
    }
