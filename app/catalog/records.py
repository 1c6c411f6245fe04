"""The catalog's record of one image: the paper's fields plus status, variants and version."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Self


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class VariantRecord:
    name: str
    format: str
    width: int
    height: int
    bytes: int
    key: str
    etag: str = ""
    tier: str = "standard"
    # Made on its first request (IMAGEPIPE_EAGER_VARIANTS, app/rendering.py): listed so that
    # manifests and the API describe it, with its real size; bytes and etag unknown (0, "").
    on_request: bool = False
    # Set: the variant is ``bytes`` bytes from this offset of the pack stored at ``key``, one
    # object for a stage's variants (app/packs.py); None: the object at ``key`` is the variant.
    offset: int | None = None


@dataclass(frozen=True)
class Placeholder:
    thumbhash: str
    data_uri: str
    dominant_color: str


@dataclass(frozen=True)
class ImageRecord:
    image_id: str
    user_id: str
    upload_time: float
    original_url: str
    original_key: str
    content_type: str
    filename: str
    status: Status = Status.PENDING
    version: int = 0
    updated_at: float = 0.0
    processed_url: str | None = None
    format: str | None = None
    size: int | None = None  # KB, as in the architecture paper
    width: int | None = None
    height: int | None = None
    failure_reason: str | None = None
    failure_detail: str | None = None
    attempts: int = 0
    # When the embedded receiver took the upload's bytes (one use per form); None on S3 uploads,
    # whose bucket enforces nothing of the kind and raises the event itself.
    received_at: float | None = None
    # The POST /upload request that made the record: its first chain logs under this ID, so on
    # S3 too, where the bucket's event starts the chain, one grep follows upload to ready.
    request_id: str | None = None
    variants: tuple[VariantRecord, ...] = ()
    placeholder: Placeholder | None = None
    # The animated WebP of an animated GIF/WebP original; kept apart from `variants`, whose names
    # are the fixed set in edge/variants.py.
    animated: VariantRecord | None = None

    def evolve(self, **changes: Any) -> Self:
        return replace(self, **changes)

    def variant(self, name: str) -> VariantRecord | None:
        return next((v for v in self.variants if v.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["variants"] = [asdict(v) for v in self.variants]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRecord:
        values = dict(data)
        values["status"] = Status(values.get("status", "pending"))
        values["variants"] = tuple(VariantRecord(**v) for v in values.get("variants") or ())
        if values.get("placeholder"):
            values["placeholder"] = Placeholder(**values["placeholder"])
        if values.get("animated"):
            values["animated"] = VariantRecord(**values["animated"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Usage:
    """What an upload quota sums of one image; the catalog reads it without the variants."""

    image_id: str
    upload_time: float
    status: Status
    size: int | None  # KB; None until processed


@dataclass(frozen=True)
class Page:
    items: list[ImageRecord] = field(default_factory=list)
    next_cursor: str | None = None
