"""How many device pixels a screen needs, and which slot serves that: one rule for the edge
(``edge.negotiate``) and for the manifest's ``sizes`` (``app.delivery.manifest``).

* **DPR cap 2.** Above 2 the eye cannot tell the extra density at phone viewing distance, and
  most image services treat DPR 3 as 2: a 390 CSS px phone at DPR 3 needs 780 px, not 1170.
* **Nearest slot at DPR >= 2, the slot above below it.** On a high-density screen a slot serves
  layouts up to :data:`HIGH_DPR_TOLERANCE` wider than itself (the browser upscales by at most
  1.35 at a density where that is not visible): a phone's 720-860 device px are served by the
  640 slot instead of 1280, a third of the pixels. At DPR < 2 (desktops) every pixel shows,
  so a slot must cover the need: always snapped up, as before.
* **The phone slot** (``720.avif``, ``edge.variants.PHONE_SLOT``) is a candidate only at
  DPR >= 2 at full strength; when both it and 640 serve, the closer fit (720) wins
  (:func:`pick_slot`): 720-972 device px (every common phone) get it.
* **Explicit widths** (``?w=``) and the weak-network step-down keep snapping up: they name
  or start from the slot that covers the need (``edge.negotiate``), without the phone slot.

``python -m bench.network`` measures what this does to bytes and SSIM per device class.
Standard library only (shipped to Lambda@Edge; the app imports it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

DPR_CAP: Final = 2.0
HIGH_DPR: Final = 2.0  # from this density on, a slot may serve a wider need...
HIGH_DPR_TOLERANCE: Final = 0.35  # ...by up to this fraction (640 serves up to 864 px)
DEFAULT_WIDTH: Final = 1280  # device px when a request carries no width hint at all

# Client Hints, standard name first, then the legacy name.
_DEVICE_WIDTH_HINTS: Final = ("sec-ch-width", "width")  # device px
_VIEWPORT_HINTS: Final = ("sec-ch-viewport-width", "viewport-width")  # CSS px
_DPR_HINTS: Final = ("sec-ch-dpr", "dpr")
# ASCII digits only: \d and float() would also take other scripts' digits.
_NUMBER: Final = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")

# Density bands written into ``sizes`` (the browser multiplies the chosen size by its own DPR,
# so each band divides by it): the common phone densities, highest first.
_SIZES_BANDS: Final = (3.0, 2.5, 2.0)


def number(raw: str | None, *, allow_zero: bool = False) -> float | None:
    """A hint's value: ASCII digits with an optional fraction, else ``None``."""
    if raw is None or not _NUMBER.fullmatch(raw.strip()):
        return None
    value = float(raw)
    return value if value > 0 or allow_zero else None


def _first_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    values = (number(headers.get(name)) for name in names)
    return next((value for value in values if value is not None), None)


def device_pixel_ratio(headers: Mapping[str, str]) -> float:
    """``Sec-CH-DPR`` (or ``DPR``), capped at :data:`DPR_CAP`; 1 when absent or malformed.

    ``headers`` has lower-case names.
    """
    return min(_first_number(headers, _DPR_HINTS) or 1.0, DPR_CAP)


def needed_width(headers: Mapping[str, str], layout_width: int | None = None) -> float | None:
    """Device px to fill: ``Sec-CH-Width``, else ``layout_width`` x DPR, else
    ``Sec-CH-Viewport-Width`` x DPR (legacy names too), the DPR capped; ``None`` without any.

    ``headers`` has lower-case names.
    """
    raw_dpr = _first_number(headers, _DPR_HINTS)
    dpr = min(raw_dpr or 1.0, DPR_CAP)
    device = _first_number(headers, _DEVICE_WIDTH_HINTS)
    if device is not None:
        # Sec-CH-Width already includes the DPR: take back the part above the cap.
        return device * dpr / raw_dpr if raw_dpr else device
    css: float | None = layout_width if layout_width and layout_width > 0 else None
    if css is None:
        css = _first_number(headers, _VIEWPORT_HINTS)
    return None if css is None else css * dpr


def tolerance(dpr: float) -> float:
    """How much wider than itself a slot may be shown at this (capped) DPR."""
    return HIGH_DPR_TOLERANCE if dpr >= HIGH_DPR else 0.0


def serves(slot_width: int, needed: float, dpr: float) -> bool:
    """Whether a slot of ``slot_width`` px is enough for ``needed`` device px at ``dpr``."""
    return slot_width * (1 + tolerance(dpr)) >= needed


def pick_slot(widths: list[int], needed: float, dpr: float) -> int:
    """Index of the widest of ``widths`` (ascending) that serves ``needed`` without being
    wider than it, else the smallest that covers it, else the last.

    Where slots are more than the tolerance apart (320, 640, 1280, 1920) at most one narrower
    slot serves, so this is the smallest serving slot. With the 720 phone slot next to 640
    (both serve a 720 px need at DPR 2) the phone slot wins: it is the closer fit.
    """
    below = [i for i, width in enumerate(widths) if width <= needed and serves(width, needed, dpr)]
    if below:
        return below[-1]
    return next((i for i, width in enumerate(widths) if width >= needed), len(widths) - 1)


def suggested_sizes(width: int) -> str:
    """The manifest's ``sizes``: full viewport width up to the image's own ``width`` (CSS px),
    with the edge's rule for high-density screens.

    A browser picks the smallest ``srcset`` candidate at least ``size x DPR`` wide, snapping
    up at any DPR. While the viewport is narrower than the image, each density band's entry
    states the size that makes it choose what the edge would: the viewport x min(DPR, 2) /
    (1 + tolerance), divided by the band's DPR. A browser without ``resolution`` media
    queries skips those entries (plain full width, as before).
    """
    bands = [
        f"(min-resolution: {band:g}dppx) and (max-width: {width}px) "
        f"calc(100vw * {_sizes_factor(band):.4f})"
        for band in _SIZES_BANDS
    ]
    return ", ".join([*bands, f"(min-width: {width}px) {width}px", "100vw"])


def _sizes_factor(band: float) -> float:
    # Rounded down: at a boundary the browser then takes the edge's slot, never the next one.
    exact = min(band, DPR_CAP) / band / (1 + tolerance(band))
    return math.floor(exact * 10_000) / 10_000
