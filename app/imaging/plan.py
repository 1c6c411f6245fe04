"""Which variants an image gets: the fixed set of edge/variants.py, never upscaled."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.imaging.encode import EncodeSettings, avif_codec
from edge.variants import FORMATS, LQ_WIDTH, LQ_WIDTHS, PHONE_FORMATS, PHONE_SLOT, SLOTS

STANDARD_TIER = "standard"  # SSIM >= 0.95 against an exact downscale (docs/imaging.md)
LOW_TIER = "low"  # 160-lq: the tiny first paint for 2g and Save-Data
WEAK_TIER = "weak"  # 640-lq: the phone-width slot at a lower quality, what 3g is served
PHONE_TIER = "phone"  # 720.avif: what a DPR >= 2 phone is served on 4g or without hints


@dataclass(frozen=True)
class PhoneAvif:
    """How one AVIF encoder makes the phone tier."""

    quality: int
    speed: int
    svt_options: tuple[tuple[str, str], ...] = ()  # SVT-AV1's own options (encode.py)
    svt_threads: int = 1  # EncodeSettings.svt_threads


# The phone tier's AVIF per encoder. Shown at DPR >= 2 and judged against WebP q80 at 720 px
# (docs/delivery.md, "Why a 720 AVIF"), on the 12 gallery photos of bench.network:
# - SVT-AV1 preset 4, tune 4 (MS-SSIM), CRF 30.5: 69.0 % of WebP q80's bytes at mean SSIM
#   0.9747 against its 0.9739, the two 4g goals; ~0.43 CPU-s per 720 px encode (preset 6 q60,
#   before: 72.3 %, 0.9728, ~0.11). CRF 30.5 sits between libavif's q51 (CRF 31) and q52
#   (CRF 30): SVT-AV1 takes quarter steps. Preset 5 is half the CPU but, at the bytes that
#   meet the goals, takes plasma_Path (fine foliage) under the tier's SSIM floor of 0.92.
#   Two SVT-AV1 threads where encodes run one at a time (the AVIF child, app/imaging/contained.py):
#   it is the chain's longest encode (~0.65 s for a 12 MP photo on one thread) and the second
#   core would wait; with two, the same bytes in ~0.39 s (docs/benchmarks.md, Run 8). Never
#   beside another encode: next to a second SVT-AV1 encode in one process, SVT-AV1 4.1 with two
#   threads died of SIGSEGV (test_corpus, 3 runs of 3; none in 2 runs with one thread).
# - libaom (gray frames, frames SVT-AV1 refuses): speed 6, q58, tune=ssim (encode.py).
PHONE_AVIF: dict[str, PhoneAvif] = {
    "aom": PhoneAvif(58, 6),
    "svt": PhoneAvif(51, 4, (("tune", "4"), ("crf", "30.5")), svt_threads=2),
}
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
    """The phone tier's AVIF quality, and ``settings`` at its encoder's speed and options."""
    phone = PHONE_AVIF[avif_codec(size, settings, gray=gray)]
    # libaom at its own phone speed also where it stands in for a failed SVT-AV1 encode.
    aom_speed = PHONE_AVIF["aom"].speed
    tuned = replace(
        settings,
        aom_speed=aom_speed,
        avif_speed=phone.speed,
        svt_options=phone.svt_options,
        svt_threads=phone.svt_threads if settings.threads == 1 else 1,
    )
    return phone.quality, tuned


def _height_at(width: int, height: int, real: int) -> int:
    return max(1, round(height * real / width))  # as resize.target_size rounds it


def master_width(width: int) -> int:
    return min(width, max(real for _slot, real in slot_widths(width)))
