"""Which variants an image gets: the fixed set of edge/variants.py, never upscaled."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.imaging.encode import EncodeSettings, avif_codec
from edge.variants import FORMATS, LQ_WIDTH, LQ_WIDTHS, PHONE_FORMATS, PHONE_SLOT, SLOTS

STANDARD_TIER = "standard"  # SSIM >= 0.95 against an exact downscale (docs/imaging.md)
LOW_TIER = "low"  # 160-lq: the tiny first paint for 2g and Save-Data
WEAK_TIER = "weak"  # 640-lq: the phone-width slot at a lower quality, what 3g is served
PHONE_TIER = "phone"  # 720.avif: what a DPR >= 2 phone is served on 4g or without hints
# The phone tier's AVIF per encoder: (quality, speed). Shown at DPR >= 2 and judged against
# WebP q80 at 720 px (docs/delivery.md): libaom at speed 6 is 31% smaller than WebP q80 at a
# higher mean SSIM, where speed 8 needs 26% more bytes for it; SVT-AV1 preset 6 at q60 the
# same (-31%). One encode of a 720 px frame: ~0.2 CPU-s with libaom, ~0.1 with SVT-AV1.
PHONE_AVIF: dict[str, tuple[int, int]] = {"aom": (58, 6), "svt": (60, 6)}
FAST_FORMATS = ("webp", "jpg")
SLOW_FORMATS = ("avif",)
# The longest side each container can hold; a variant over it is not made in that format, and
# delivery serves the image's other formats for that width (edge.negotiate picks among what exists).
MAX_SIDE = {"webp": 16383, "jpg": 65535, "avif": 65536}


@dataclass(frozen=True)
class VariantSpec:
    name: str  # the delivery name, e.g. "640.webp" or "160-lq.jpg"
    format: str
    width: int  # the real pixel width
    tier: str  # STANDARD_TIER, LOW_TIER (160-lq), WEAK_TIER (640-lq) or PHONE_TIER (720)


def slot_widths(width: int) -> list[tuple[int, int]]:
    """(slot, real width) for every slot up to the first one that holds the whole image."""
    pairs = []
    for slot in SLOTS:
        pairs.append((slot, min(slot, width)))
        if slot >= width:
            break
    return pairs


def plan_variants(
    width: int, formats: tuple[str, ...] = FORMATS, *, height: int | None = None
) -> list[VariantSpec]:
    """Low tier first, then standard slots smallest to largest (720.avif after 640), for
    every format asked.

    With the image's height, a variant taller than a format can hold is left out of that format
    (a 1x65500 strip gets JPEG and AVIF, never a WebP that libwebp would refuse).
    """
    slots = slot_widths(width)
    specs = [
        VariantSpec(f"{LQ_WIDTH}-lq.{fmt}", fmt, min(LQ_WIDTH, width), LOW_TIER) for fmt in formats
    ]
    for slot, real in slots:  # 640-lq, when a wider slot exists (else 3g gets 320 anyway)
        if slot in LQ_WIDTHS and width > slot:
            specs += [VariantSpec(f"{slot}-lq.{fmt}", fmt, real, WEAK_TIER) for fmt in formats]
    for slot, real in slots:
        specs += [VariantSpec(f"{slot}.{fmt}", fmt, real, STANDARD_TIER) for fmt in formats]
        if slot == max(s for s in SLOTS if s < PHONE_SLOT) and width > slot:
            # 720.avif, from the 1280 slot up (as 640-lq): the phone width at DPR >= 2.
            phone = [f for f in PHONE_FORMATS if f in formats]
            specs += [
                VariantSpec(f"{PHONE_SLOT}.{f}", f, min(PHONE_SLOT, width), PHONE_TIER)
                for f in phone
            ]
    if height is None:
        return specs
    return [
        s for s in specs if max(s.width, _height_at(width, height, s.width)) <= MAX_SIDE[s.format]
    ]


def phone_encode(
    size: tuple[int, int], settings: EncodeSettings, *, gray: bool = False
) -> tuple[int, EncodeSettings]:
    """The phone tier's AVIF quality, and ``settings`` at its encoder speed."""
    quality, speed = PHONE_AVIF[avif_codec(size, settings, gray=gray)]
    return quality, replace(settings, aom_speed=speed, avif_speed=speed)


def _height_at(width: int, height: int, real: int) -> int:
    return max(1, round(height * real / width))  # as resize.target_size rounds it


def master_width(width: int) -> int:
    return min(width, max(real for _slot, real in slot_widths(width)))
