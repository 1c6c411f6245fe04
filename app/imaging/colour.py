"""Bring any decoded mode and ICC profile to 8-bit sRGB (RGB, RGBA, L or LA)."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def to_srgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    img = _to_8bit(img)
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    if img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    if img.mode == "CMYK" or (img.mode == "RGB" and icc):
        img = _apply_profile(img, icc)
    if alpha is not None:
        img.putalpha(alpha)
    img.info.pop("icc_profile", None)
    return img


def _to_8bit(img: Image.Image) -> Image.Image:
    """Palette, 1-bit, 16-bit and float modes become one of the four modes the encoders take."""
    mode = img.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return img
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _wide_gray_to_l(img)
    if mode in ("La", "RGBa"):
        return img.convert(mode[0] + "A" if mode == "La" else "RGBA")
    return img.convert("RGBA" if "A" in mode else "RGB")


def _wide_gray_to_l(img: Image.Image) -> Image.Image:
    """16-bit and float gray to 8-bit by full range, keeping a tRNS key as an alpha channel."""
    values = np.asarray(img).astype(np.float64)
    peak = float(values.max()) if values.size else 0.0
    if img.mode == "F":
        top = 1.0 if peak <= 1.0 else 255.0
    else:
        top = 65535.0 if img.mode.startswith("I;16") or peak > 255 else 255.0
    gray = Image.fromarray(np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    key = img.info.get("transparency")
    if isinstance(key, int):
        mask = np.where(np.asarray(img) == key, 0, 255).astype(np.uint8)
        return Image.merge("LA", (gray, Image.fromarray(mask, "L")))
    return gray


def _apply_profile(img: Image.Image, icc: bytes | None) -> Image.Image:
    transform = _transform(img.mode, icc) if icc else None
    if transform is None:
        return img.convert("RGB")
    try:
        out = ImageCms.applyTransform(img, transform)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img.convert("RGB")
    assert out is not None
    return out


def _transform(mode: str, icc: bytes) -> ImageCms.ImageCmsTransform | None:
    return _cached_transform(mode, hashlib.sha256(icc).hexdigest(), icc)


@lru_cache(maxsize=64)
def _cached_transform(mode: str, _digest: str, icc: bytes) -> ImageCms.ImageCmsTransform | None:
    # A damaged or mismatched profile is ignored: the pixels are then taken as sRGB.
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(
            source, _SRGB, mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
