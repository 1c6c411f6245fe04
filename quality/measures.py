"""Image similarity for tests and benchmarks: compare looks, not bytes.

- `ssim`: structural similarity of luminance (as scikit-image's default, 7x7 windows);
- `delta_e`: mean CIEDE2000 colour difference;
- `reference_original` / `reference_downscale`: the slow, straightforward rendering to compare with.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps

from app.imaging.colour import default_cmyk_profile
from app.imaging.plugins import register_plugins

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


# sRGB (D65) to CIE XYZ, and the white point the Lab conversion divides by.
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE = _SRGB_TO_XYZ.sum(axis=1)


def lab(img: Image.Image) -> NDArray[np.float64]:
    """CIE L*a*b* (D65) of an sRGB image; transparent pixels are composited on white first."""
    rgb = np.asarray(_flatten(img).convert("RGB"), dtype=np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta * delta) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def delta_e(a: Image.Image, b: Image.Image) -> float:
    """Mean CIEDE2000 colour difference of two same-sized sRGB images (about 1 is just visible)."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} vs {b.size}")
    return float(ciede2000(lab(a), lab(b)).mean())


def ciede2000(lab1: NDArray[np.float64], lab2: NDArray[np.float64]) -> NDArray[np.float64]:
    """CIEDE2000 between L*a*b* arrays (last axis L, a, b), as Sharma, Wu and Dalal (2005) give it.

    Checked against the paper's 34 published pairs (tests/quality/test_measures.py).
    """
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma == 0, 0, dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * np.sqrt(chroma) * np.sin(np.radians(dh / 2))
    l_mean, cp_mean, h_sum = (l1 + l2) / 2, (c1p + c2p) / 2, h1p + h2p
    h_mean = np.where(
        chroma == 0,
        h_sum,
        np.where(
            np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, h_sum + 360, h_sum - 360) / 2
        ),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * rotation)) * r_c
    terms = (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
    terms = terms + r_t * (d_c / s_c) * (d_h / s_h)
    result: NDArray[np.float64] = np.sqrt(np.maximum(terms, 0))
    return result


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La"):
        return img
    base = Image.new("RGB", img.size, (255, 255, 255))
    base.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
    return base


def reference_original(path: Path) -> Image.Image:
    """The whole first frame, upright and in sRGB, by the straightforward route (for comparisons).

    Full-size decode, `ImageOps.exif_transpose`, then littleCMS straight from the embedded profile
    (or the default CMYK one) to sRGB. The pipeline takes a faster route (DCT-scaled decode, resize
    before colour conversion and transpose); tests and the benchmark compare it against this one.
    """
    register_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as opened:
            icc = opened.info.get("icc_profile")
            img = ImageOps.exif_transpose(opened)
            img.load()
    if img.mode.startswith("I;16"):
        img = Image.fromarray(
            ((np.asarray(img).astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8), "L"
        )
    elif img.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    base = img.convert(img.mode[:-1]) if alpha is not None else img
    if base.mode == "CMYK" and not icc:
        icc = default_cmyk_profile()
    if icc and isinstance(icc, bytes):
        try:
            converted = ImageCms.profileToProfile(
                base,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
                outputMode="RGB",
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if converted is not None:
            base = converted.convert("L") if base.mode == "L" else converted
    base = base.convert("RGB") if base.mode == "CMYK" else base
    if alpha is not None:
        base = base.copy()
        base.putalpha(alpha)
    base.info = {}
    return base


def reference_downscale(original: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An exact Lanczos downscale (no reducing_gap, no DCT scaling) of `reference_original`."""
    if original.size == size:
        return original
    return original.resize(size, Image.Resampling.LANCZOS)
