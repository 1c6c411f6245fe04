"""What each request may carry, as pydantic models: they validate the request (app/api/params.py)
and their JSON Schema is the OpenAPI document's (app/api/openapi.py), so the two cannot differ.

The field validators are the API's own parsers (``bounded_int``, ``text``, ``check_user_id``),
so the 400s keep their sentences; ``Field`` states the same bounds for the schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from app.api.params import bounded_int, text
from app.auth.tokens import USER_ID_PATTERN, check_user_id

Filename = Annotated[str, Field(min_length=1, max_length=255), BeforeValidator(text(255))]
ContentType = Annotated[str, Field(min_length=1, max_length=100), BeforeValidator(text(100))]
ByteCount = Annotated[int, Field(ge=1, le=2**53), BeforeValidator(bounded_int(1, 2**53))]
PartNumber = Annotated[int, Field(ge=1, le=10_000), BeforeValidator(bounded_int(1, 10_000))]
Etag = Annotated[str, Field(min_length=1, max_length=128), BeforeValidator(text(128))]
UploadId = Annotated[str, Field(min_length=1, max_length=1024), BeforeValidator(text(1024))]
AnyUserId = Annotated[str, Field(min_length=1, max_length=128), BeforeValidator(text(128))]
PageSize = Annotated[int, Field(ge=1, le=100), BeforeValidator(bounded_int(1, 100))]
Cursor = Annotated[str, Field(min_length=1, max_length=2048), BeforeValidator(text(2048))]
UserId = Annotated[
    str,
    BeforeValidator(text(128)),
    AfterValidator(check_user_id),
    Field(json_schema_extra={"pattern": USER_ID_PATTERN}, description="a user ID"),
]

# A variant's name (edge/variants.py has the fixed set); anything else is a 404.
VariantName = Annotated[
    str, Field(pattern=r"^[0-9]{3,4}(-lq)?\.(avif|webp|jpg)$", description="e.g. 640.jpg")
]


class Strict(BaseModel):
    """Unknown names are refused (``unknown_parameter``), never ignored."""

    model_config = ConfigDict(extra="forbid")


class UploadRequest(Strict):
    filename: Filename = Field(description="the file's name, kept in the record")
    content_type: ContentType = Field(
        description="JPEG, PNG, WebP, AVIF, HEIC/HEIF, GIF or TIFF (any other: 415)"
    )
    size: ByteCount = Field(description="the file's length in bytes (over the limit: 413)")


def _part_list(raw: Any) -> Any:
    if not isinstance(raw, list) or not raw or len(raw) > 10_000:
        raise ValueError("must be a list of 1 to 10000 {part_number, etag} objects")
    if not all(isinstance(item, dict) and set(item) == {"part_number", "etag"} for item in raw):
        raise ValueError("each part is an object {part_number, etag}")
    return raw


class Part(Strict):
    part_number: PartNumber
    etag: Etag = Field(description="the ETag header of the part's PUT response")


class CompleteUploadRequest(Strict):
    upload_id: UploadId = Field(description="the ticket's multipart upload_id")
    parts: Annotated[
        list[Part], Field(min_length=1, max_length=10_000), BeforeValidator(_part_list)
    ]


class ImageListQuery(Strict):
    user_id: AnyUserId | None = Field(None, description="whose images (default: the caller's)")
    limit: PageSize | None = Field(None, description="page size (default 20)")
    cursor: Cursor | None = Field(None, description="the previous page's next_cursor")


class DevTokenRequest(Strict):
    user_id: UserId


# What the delivery routes negotiate on (edge/negotiate.py), documented as request headers.
NEGOTIATION_HEADERS = {
    "Accept": "image/avif and image/webp count only when named",
    "Sec-CH-Width": "the image's layout width in device pixels",
    "Sec-CH-Viewport-Width": "the viewport width in CSS pixels",
    "Sec-CH-DPR": "device pixel ratio (capped at 2)",
    "ECT": "effective connection type: slow-2g, 2g, 3g, 4g",
    "Save-Data": "on: the lightest variant that still fits",
    "If-None-Match": "an ETag seen before: 304",
}


class DeliveryQuery(Strict):
    """Documents the delivery routes' query; edge/ validates it, as CloudFront's function does."""

    w: str | None = Field(None, description="a width: snapped up to an available slot")
    f: str | None = Field(None, description="a format: avif, webp, jpg or jpeg")
    mw: str | None = Field(None, description="the layout's largest slot (the manifest's auto_url)")
    exp: str | None = Field(None, description="signature: expiry (private images)")
    kid: str | None = Field(None, description="signature: key ID (private images)")
    sig: str | None = Field(None, description="signature (private images)")


class OriginalQuery(Strict):
    """Documents the download link's query; app/original_links.py checks it."""

    exp: str = Field(description="expiry, seconds since the epoch")
    sig: str = Field(description="the link's signature")


class ReceiveForm(BaseModel):
    """Documents the embedded receiver's form: the ticket's ``fields``, then ``file``. The
    receiver checks it as S3 checks a POST (app/uploads/policy.py), by its signed policy."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    key: str = Field(description="the ticket's key")
    content_type: str = Field(alias="Content-Type", description="the ticket's Content-Type")
    policy: str = Field(description="the signed policy document (base64)")
    signature: str = Field(alias="x-imagepipe-signature", description="the policy's signature")
    file: bytes = Field(description="the file, last", json_schema_extra={"format": "binary"})
