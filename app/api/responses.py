"""What each answer carries, as pydantic models: the OpenAPI document's response schemas.

The views build plain dicts (app/api/serializers.py); these models describe them, and
schemathesis checks every answer it provokes against them (tests/app/api/test_openapi_fuzz.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Closed(BaseModel):
    """No field beyond those listed: a new one must be documented first."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Closed):
    code: str = Field(description="machine-readable, e.g. missing_parameter, invalid_token")
    message: str = Field(description="a sentence for a person")


class ErrorBody(Closed):
    """Every error: 4xx and 5xx alike."""

    error: ErrorDetail


class UploadForm(Closed):
    method: Literal["POST"]
    url: str = Field(description="where to post the form: the bucket, or /upload/receive")
    fields: dict[str, str] = Field(description="post these first, then the file as 'file'")
    expires_at: str = Field(description="ISO 8601, UTC")
    max_bytes: int
    multipart: dict[str, Any] | None = Field(
        None, description="S3 only, for large files: upload_id and a presigned URL per part"
    )


class UploadCreated(Closed):
    image_id: str
    upload: UploadForm


class Placeholder(Closed):
    thumbhash: str
    data_uri: str
    dominant_color: str


class Variant(Closed):
    name: str = Field(description="e.g. 640.webp, 160-lq.jpg")
    format: str
    width: int
    height: int
    bytes: int | None = Field(description="null for a variant made on first request (not recorded)")
    tier: str
    on_request: bool = Field(
        description="made on its first request (IMAGEPIPE_EAGER_VARIANTS), not by processing"
    )
    url: str = Field(description="signed when images are private")


class Delivery(Closed):
    """The responsive manifest (docs/delivery.md)."""

    width: int
    height: int
    sizes: str
    srcset: dict[str, str]
    picture: dict[str, Any]
    html: str
    bytes: dict[str, int | None] = Field(description="null: made on first request, size unknown")
    low: dict[str, str]
    weak: dict[str, str]
    auto_url: str
    placeholder: dict[str, str] | None
    dominant_color: str | None
    expires_at: str | None


class ImageView(Closed):
    image_id: str
    user_id: str
    status: Literal["pending", "processing", "ready", "failed"]
    failure_reason: str | None
    failure_detail: str | None
    filename: str
    content_type: str
    upload_time: str
    updated_at: str
    version: int
    original_url: str | None = Field(description="the owner's short-lived download link")
    processed_url: str | None
    format: str | None
    size: int | None = Field(description="KB")
    width: int | None
    height: int | None
    placeholder: Placeholder | None
    variants: list[Variant]
    delivery: Delivery | None


class ImagePage(Closed):
    images: list[ImageView]
    next_cursor: str | None = Field(description="opaque; null on the last page")


class ErasureReceipt(Closed):
    """An erasure's receipt, also appended to the audit log."""

    scope: Literal["image", "user"]
    subject: str
    images: list[str]
    keys_deleted: list[str]
    counts: dict[str, int]
    invalidation_ids: list[str]
    invalidation_id: str | None
    time: str


class UserExport(Closed):
    user_id: str
    exported_at: str
    links_expire_in_seconds: int
    images: list[ImageView]


class Live(Closed):
    status: Literal["alive"]


class Readiness(Closed):
    status: Literal["ok", "degraded"]
    backends: dict[str, str] = Field(description='"ok", or "unavailable: <why>"')


class DevToken(Closed):
    token: str
    user_id: str
    expires_in: int = Field(description="seconds")
