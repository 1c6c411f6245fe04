"""Bring any decoded mode and ICC profile to 8-bit sRGB (RGB, RGBA, L or LA).

Two steps, so that the costly one runs on as few pixels as possible:

1. `to_8bit` (before resizing): palette, 1-bit, 16-bit and float modes become 8-bit modes that
   Pillow can resize: RGB, RGBA, L, LA or CMYK.
2. `to_srgb` (after resizing): the embedded ICC profile, or a default one, maps the pixels to sRGB.
   Gray stays gray (a gray profile is applied to the gray values). CMYK without a profile uses
   the shipped "Chemical proof" coated-CMYK profile (profiles/README.md), not Pillow's formula.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_DEFAULT_CMYK = Path(__file__).resolve().parent / "profiles" / "cmyk-chemical-proof.icc.gz"
_INTENT = ImageCms.Intent.PERCEPTUAL
_PROFILE_ERRORS = (ImageCms.PyCMSError, OSError, ValueError, TypeError)


_EIGHT_BIT = {"1": "L", "La": "LA", "RGBa": "RGBA", "PA": "RGBA"}


def to_8bit(img: Image.Image) -> Image.Image:
    """Palette, 1-bit, 16-bit and float modes become RGB, RGBA, L, LA (or CMYK, kept as is)."""
    mode = img.mode
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _wide_gray_to_l(img)
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    return img.convert(_EIGHT_BIT.get(mode, "RGBA" if "A" in mode else "RGB"))


def to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB, with no profile attached; `icc` is the source's profile, if any."""
    img = to_8bit(img)
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    base = img.convert(img.mode[:-1]) if alpha is not None else img
    if base.mode == "CMYK":
        base = _cmyk_to_srgb(base, icc)
    elif icc and not _is_srgb(icc):
        base = _apply(base, icc)
    if alpha is not None:
        base = base.copy() if base is img else base
        base.putalpha(alpha)
    base.info.pop("icc_profile", None)
    return base


def _wide_gray_to_l(img: Image.Image) -> Image.Image:
    """16-bit and float gray to 8-bit over the full range (rounded), keeping a tRNS key as alpha."""
    values = np.asarray(img)
    if img.mode == "F":
        scaled = values.astype(np.float32)
        top = 1.0 if scaled.size and float(scaled.max()) <= 1.0 else 255.0
        gray8 = np.clip(scaled * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    else:
        wide = values.astype(np.int64)
        sixteen = img.mode.startswith("I;16") or (wide.size > 0 and int(wide.max()) > 255)
        if sixteen:
            gray8 = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        else:
            gray8 = np.clip(wide, 0, 255).astype(np.uint8)
    gray = Image.fromarray(gray8, "L")
    key = img.info.get("transparency")
    if isinstance(key, int):
        mask = np.where(values == key, 0, 255).astype(np.uint8)
        return Image.merge("LA", (gray, Image.fromarray(mask, "L")))
    return gray


def _cmyk_to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    transform = _transform("CMYK", icc) if icc else None
    if transform is None:
        transform = _default_cmyk_transform()
    return _run(img, transform) or img.convert("RGB")


def _apply(img: Image.Image, icc: bytes) -> Image.Image:
    """RGB through its profile to sRGB; L through its gray profile, staying L."""
    if img.mode not in ("RGB", "L"):
        return img
    transform = _transform(img.mode, icc)
    if transform is None:
        return img  # a damaged or mismatched profile: the pixels are taken as sRGB
    out = _run(img, transform)
    if out is None:
        return img
    return out.convert("L") if img.mode == "L" else out


def _run(img: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image | None:
    try:
        out = ImageCms.applyTransform(img, transform)
    except _PROFILE_ERRORS:
        return None
    return out


def _transform(mode: str, icc: bytes) -> ImageCms.ImageCmsTransform | None:
    return _cached_transform(mode, hashlib.sha256(icc).hexdigest(), icc)


@lru_cache(maxsize=64)
def _cached_transform(mode: str, _digest: str, icc: bytes) -> ImageCms.ImageCmsTransform | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(source, _SRGB, mode, "RGB", renderingIntent=_INTENT)
    except _PROFILE_ERRORS:
        return None


@cache
def default_cmyk_profile() -> bytes:
    """The ICC profile assumed for CMYK pixels that come without one."""
    return gzip.decompress(_DEFAULT_CMYK.read_bytes())


@cache
def _default_cmyk_transform() -> ImageCms.ImageCmsTransform:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(default_cmyk_profile()))
    return ImageCms.buildTransform(profile, _SRGB, "CMYK", "RGB", renderingIntent=_INTENT)


def _is_srgb(icc: bytes) -> bool:
    return _cached_is_srgb(hashlib.sha256(icc).hexdigest(), icc)


@lru_cache(maxsize=64)
def _cached_is_srgb(_digest: str, icc: bytes) -> bool:
    """An sRGB profile needs no transform (saves a full pass over the pixels)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip().lower()
        space = profile.profile.xcolor_space.strip()
    except _PROFILE_ERRORS:
        return False
    return space == "RGB" and description.startswith("srgb") and "linear" not in description
