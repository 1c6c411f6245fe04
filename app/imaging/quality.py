"""Image similarity (SSIM on luminance), for tests and benchmarks: compare looks, not bytes."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = 7


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean SSIM of the two images' luminance over 7x7 windows (as scikit-image's default)."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} vs {b.size}")
    x, y = _luma(a), _luma(b)
    mx, my = _mean(x), _mean(y)
    vx = _mean(x * x) - mx * mx
    vy = _mean(y * y) - my * my
    cov = _mean(x * y) - mx * my
    # Sample (not population) statistics, as in the reference implementation.
    n = _WINDOW * _WINDOW
    vx, vy, cov = (v * n / (n - 1) for v in (vx, vy, cov))
    top = (2 * mx * my + _C1) * (2 * cov + _C2)
    bottom = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float((top / bottom).mean())


def _luma(img: Image.Image) -> NDArray[np.float64]:
    if img.mode in ("RGBA", "LA"):
        base = Image.new("RGB", img.size, (255, 255, 255))
        base.paste(img.convert("RGBA"), mask=img.getchannel("A"))
        img = base
    return np.asarray(img.convert("L"), dtype=np.float64)


def _mean(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over every full 7x7 window, by summed-area table."""
    table = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    w = _WINDOW
    sums = table[w:, w:] - table[:-w, w:] - table[w:, :-w] + table[:-w, :-w]
    result: NDArray[np.float64] = sums / (w * w)
    return result
