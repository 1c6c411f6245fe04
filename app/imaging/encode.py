"""Encoders with their settings: metadata-free output, alpha kept where the format allows it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


@dataclass(frozen=True)
class Quality:
    jpg: int
    webp: int
    avif: int

    def for_format(self, fmt: str) -> int:
        value: int = getattr(self, fmt)
        return value


@dataclass(frozen=True)
class EncodeSettings:
    standard: Quality = Quality(jpg=82, webp=80, avif=60)
    low: Quality = Quality(jpg=45, webp=40, avif=35)
    webp_method: int = 4
    avif_speed: int = 8
    background: tuple[int, int, int] = (255, 255, 255)


def encode(img: Image.Image, fmt: str, quality: int, settings: EncodeSettings) -> bytes:
    out = io.BytesIO()
    if fmt == "jpg":
        _jpeg_ready(img, settings.background).save(
            out, "JPEG", quality=quality, optimize=True, progressive=True, subsampling="4:2:0"
        )
    elif fmt == "webp":
        _colour_ready(img).save(out, "WEBP", quality=quality, method=settings.webp_method)
    elif fmt == "avif":
        _colour_ready(img).save(
            out,
            "AVIF",
            quality=quality,
            speed=settings.avif_speed,
            subsampling="4:2:0",
            max_threads=1,
        )
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return out.getvalue()


def _jpeg_ready(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if img.mode in ("RGB", "L"):
        return _clean(img)
    if img.mode in ("RGBA", "LA"):
        base = Image.new("RGB", img.size, background)
        base.paste(img.convert("RGBA"), mask=img.getchannel("A"))
        return base
    return img.convert("RGB")


def _colour_ready(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "RGBA"):
        return _clean(img)
    return img.convert("RGBA" if img.mode == "LA" else "RGB")


def _clean(img: Image.Image) -> Image.Image:
    # Encoders copy exif/icc/xmp from img.info when present; the master must carry none.
    if img.info:
        img = img.copy()
        img.info = {}
    return img
