"""Which variants an image gets: the fixed set of edge/variants.py, never upscaled."""

from __future__ import annotations

from dataclasses import dataclass

from edge.variants import FORMATS, LQ_WIDTH, SLOTS

FAST_FORMATS = ("webp", "jpg")
SLOW_FORMATS = ("avif",)


@dataclass(frozen=True)
class VariantSpec:
    name: str  # the delivery name, e.g. "640.webp" or "160-lq.jpg"
    format: str
    width: int  # the real pixel width
    tier: str  # "standard" or "low"


def slot_widths(width: int) -> list[tuple[int, int]]:
    """(slot, real width) for every slot up to the first one that holds the whole image."""
    pairs = []
    for slot in SLOTS:
        pairs.append((slot, min(slot, width)))
        if slot >= width:
            break
    return pairs


def plan_variants(width: int, formats: tuple[str, ...] = FORMATS) -> list[VariantSpec]:
    """Low tier first, then standard slots smallest to largest, for every format asked."""
    specs = [
        VariantSpec(f"{LQ_WIDTH}-lq.{fmt}", fmt, min(LQ_WIDTH, width), "low") for fmt in formats
    ]
    for slot, real in slot_widths(width):
        specs += [VariantSpec(f"{slot}.{fmt}", fmt, real, "standard") for fmt in formats]
    return specs


def master_width(width: int) -> int:
    return min(width, max(real for _slot, real in slot_widths(width)))
