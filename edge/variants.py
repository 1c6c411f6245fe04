"""The fixed set of variant names: the contract between the pipeline, the app and the edge.

Every image is stored as ``{image_id}/{name}`` in the variants bucket, where ``name`` is

* ``{slot}.{ext}`` (standard tier), ``slot`` in :data:`SLOTS`, ``ext`` in :data:`FORMATS`;
* ``{lq}-lq.{ext}`` (low tier, for weak networks), ``lq`` in :data:`LQ_WIDTHS`: ``160-lq`` is the
  tiny first paint (2g, Save-Data); ``640-lq`` is the phone-width slot at a lower quality, what
  3g gets instead of ``640``;
* ``720.avif`` (phone tier): the phone width, AVIF only, at a quality for a density of 2 or
  more, served only to such screens at full strength (4g, or no network hints): a 360-430 CSS
  px phone's 720-864 device px (``edge.widths``). Images from the 1280 slot up have it.

Widths are never upscaled, but the smallest slot >= the original width always exists
(encoded at the original width), so the standard slots of an image are a prefix of
:data:`SLOTS`, described by its largest slot ``max_slot``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

SLOTS: Final = (320, 640, 1280, 1920)
LQ_WIDTH: Final = 160  # the tiny tier, below every slot
LQ_WIDTHS: Final = (LQ_WIDTH, 640)  # 640-lq: the weak-network rendition of slot 640
# 720.avif: what a DPR >= 2 phone on 4g is served (docs/delivery.md, "Why a 720 AVIF").
PHONE_SLOT: Final = 720
PHONE_FORMATS: Final = ("avif",)
FORMATS: Final = ("avif", "webp", "jpg")
CONTENT_TYPES: Final = MappingProxyType(
    {"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg"}
)
DEFAULT_MAX_SLOT: Final = SLOTS[-1]

# The public URL of an image: /i/{image_id} (negotiated) or /i/{image_id}/{name}.
PUBLIC_PREFIX: Final = "/i/"
IMAGE_ID: Final = r"[A-Za-z0-9_-]{1,64}"
# CloudFront's signed-URL parameters (key groups): CloudFront checks them before the edge runs.
SIGNING_KEYS: Final = frozenset({"Expires", "Signature", "Key-Pair-Id", "Policy"})
# A variant's bytes never change under its name, so every cache may keep it for a year (an
# erasure invalidates the CDN's copies: app/invalidation.py).
IMMUTABLE_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
# Marks a stored variant served in place of the one named while its image is still processing
# (app/stand_in.py); its value is the stand-in's name. Such an answer is never cached.
STAND_IN_HEADER: Final = "X-Imagepipe-Stand-In"

STANDARD: Final = "standard"
LOW: Final = "low"
PHONE: Final = "phone"
LQ_SUFFIX: Final = "-lq"


@dataclass(frozen=True, slots=True)
class Variant:
    """One stored rendition. ``width`` is the slot width (an image narrower than its
    largest slot is stored at its own width under that slot's name)."""

    name: str
    format: str
    width: int
    tier: str
    bytes: int | None = None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def stem(self) -> str:
        """The name without its extension: ``"640"`` or ``"160-lq"``."""
        return self.name.rsplit(".", 1)[0]

    def key(self, image_id: str) -> str:
        """The object key in the variants bucket."""
        return f"{image_id}/{self.name}"


def _standard(slot: int, fmt: str) -> Variant:
    return Variant(f"{slot}.{fmt}", fmt, slot, STANDARD)


def _low(width: int, fmt: str) -> Variant:
    return Variant(f"{width}{LQ_SUFFIX}.{fmt}", fmt, width, LOW)


def _phone(fmt: str) -> Variant:
    return Variant(f"{PHONE_SLOT}.{fmt}", fmt, PHONE_SLOT, PHONE)


def _all_variants() -> tuple[Variant, ...]:
    low = [_low(width, fmt) for width in LQ_WIDTHS for fmt in FORMATS]
    standard = [_standard(slot, fmt) for slot in SLOTS for fmt in FORMATS]
    phone = [_phone(fmt) for fmt in PHONE_FORMATS]
    return (*low, *sorted([*standard, *phone], key=lambda v: v.width))


# Names are looked up, never parsed: anything not produced here is not a variant.
_BY_NAME: Final = MappingProxyType({v.name: v for v in _all_variants()})


def all_names() -> tuple[str, ...]:
    """Every valid variant name (low tier first, then slots smallest to largest)."""
    return tuple(_BY_NAME)


def parse_name(name: str) -> Variant | None:
    """The :class:`Variant` for ``name`` (bytes unknown), or ``None`` outside the fixed set."""
    return _BY_NAME.get(name)


def standard_set(max_slot: int) -> list[Variant]:
    """Every variant an image with largest slot ``max_slot`` has, bytes unknown.

    That is every low tier narrower than ``max_slot`` (``160-lq`` always, ``640-lq`` from
    slot 1280 up: a 640-wide image's 3g choice is 320 anyway), ``720.avif`` from slot 1280
    up, then each slot <= ``max_slot``,
    in every format (low tier first, slots smallest to largest, formats in :data:`FORMATS`
    order). Raises ``ValueError`` if ``max_slot`` is not one of :data:`SLOTS`.
    """
    if max_slot not in SLOTS:
        raise ValueError(f"max_slot must be one of {SLOTS}, got {max_slot!r}")
    return [
        v
        for v in _BY_NAME.values()
        if v.width < max_slot or (v.tier != LOW and v.width == max_slot)
    ]
