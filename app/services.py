"""The backends the settings name, built once per process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

from app.catalog import ImageCatalog, ImageRecord, open_catalog
from app.delivery.signing import UrlSigner, signer_from_settings
from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.retrying import retrying
from app.settings import Settings
from app.storage import BlobStore, open_blob_store


def limits_from(settings: Settings) -> Limits:
    """The decode limits the settings ask for (the rest keep app/imaging/limits.py's defaults)."""
    return Limits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_total_pixels=settings.max_total_pixels,
        max_frames=settings.max_frames,
        max_scans=settings.max_jpeg_scans,
        max_metadata_bytes=settings.max_metadata_bytes,
        max_exif_bytes=settings.max_exif_bytes,
        decode_seconds=float(settings.decode_seconds),
        decode_memory_bytes=settings.decode_memory_mb * 1024 * 1024,
    )


@dataclass(frozen=True)
class Services:
    settings: Settings
    originals: BlobStore
    variants: BlobStore
    catalog: ImageCatalog

    @property
    def limits(self) -> Limits:
        return limits_from(self.settings)

    @property
    def encode_settings(self) -> EncodeSettings:
        hex_ = self.settings.jpeg_background.lstrip("#")
        rgb = (int(hex_[0:2], 16), int(hex_[2:4], 16), int(hex_[4:6], 16))
        return EncodeSettings(background=rgb)

    def unfinished_uploads(self, user_id: str) -> int:
        """The user's uploads not processed yet: back-pressure's count (app/api/uploads.py).
        One older than an upload form's life plus a stuck chain's is abandoned, not counted."""
        settings = self.settings
        since = time.time() - settings.upload_ttl_seconds - settings.stuck_after_seconds
        return self.catalog.count_open(user_id, uploaded_since=since)

    def new_record(
        self,
        image_id: str,
        user_id: str,
        content_type: str,
        filename: str,
        *,
        request_id: str | None = None,
    ) -> ImageRecord:
        """The pending record of an upload, its original stored under the image ID."""
        return ImageRecord(
            image_id=image_id,
            user_id=user_id,
            upload_time=time.time(),
            original_url=self.originals.url_for(image_id),
            original_key=image_id,
            content_type=content_type,
            filename=filename,
            request_id=request_id,
        )

    def delivery_url(self, image_id: str, name: str | None = None) -> str:
        """The canonical, unsigned URL (what the catalog stores); sign it with ``signer``."""
        base = f"{self.settings.public_base_url}/i/{image_id}"
        return f"{base}/{name}" if name else base

    @cached_property
    def signer(self) -> UrlSigner:
        """Grants and checks delivery URLs: public, HMAC, or CloudFront, per the settings."""
        return signer_from_settings(self.settings)


def build_services(settings: Settings) -> Services:
    # Passing backend errors are retried call by call (app/retrying.py), in every process.
    services = Services(
        settings=settings,
        originals=retrying(open_blob_store(settings.originals_url)),
        variants=retrying(open_blob_store(settings.variants_url)),
        catalog=retrying(open_catalog(settings.catalog_url)),
    )
    _ = services.signer  # a bad signing key stops start-up, not the first request
    return services
