"""Encoders with their settings: metadata-free output, alpha kept where the format allows it.

Why these settings (measured on the corpus; docs/imaging.md has the figures):

- Standard tier: the lowest qualities at which every standard variant of every corpus photo keeps
  SSIM >= 0.95 against an exact Lanczos downscale of the original (the issue's bar). The hardest
  photo (plasma_Path, fine foliage) needs JPEG 90 (89 passes by 0.003), WebP 85 (84 passes by
  0.002 on the CMYK photo) and AVIF 72 (70 passes by 0.001); one step up keeps a margin.
- Low tier (160-lq, for Save-Data and 2G): small on purpose (JPEG 45, WebP 40, AVIF 35).
- Weak tier (640-lq, what a phone on 3g is served): AVIF 60, WebP 70, JPEG 65. Shown at 720
  device px, every gallery photo keeps SSIM >= 0.92 against the 720 px reference (AVIF: lowest
  0.942) for 35% fewer bytes than WebP q80 at 720 px (docs/delivery.md).
- JPEG 4:2:0, progressive, optimized Huffman tables: progressive so a first scan paints early on
  slow links; optimize because it is ~5% smaller for little CPU.
- WebP method 4: method 6 is 1.7x slower for ~4% fewer bytes; method 2 is 2.5x faster but ~4%
  larger and loses 0.002 SSIM. 4 is libwebp's own default trade-off.
- AVIF speed 8, tune=ssim, 4:2:0, one thread per encoder. aom's default tune (psnr) spends bits
  on noise SSIM does not see: tune=ssim is 15% smaller at the same quality number and still
  >= 0.95 on every corpus photo (lowest 0.9556), as libheif (libvips) does by default. Speed 8
  is 5% smaller than 9 for 2.3x the AVIF CPU: AVIF is what most browsers are served, so the
  bytes are saved on every delivery. Encodes already run side by side, so one thread each.
- Nothing but pixels is written: no EXIF, XMP, IPTC or comment; no ICC profile (pixels are
  sRGB, which is what browsers assume of an untagged image).
"""

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
    standard: Quality = Quality(jpg=90, webp=85, avif=72)
    low: Quality = Quality(jpg=45, webp=40, avif=35)
    weak: Quality = Quality(jpg=65, webp=70, avif=60)
    webp_method: int = 4
    avif_speed: int = 8
    threads: int = 2  # encodes run side by side (Pillow releases the GIL while encoding)
    background: tuple[int, int, int] = (255, 255, 255)

    def quality_for(self, tier: str) -> Quality:
        """The qualities of a plan tier ("standard", "low" or "weak")."""
        return {"low": self.low, "weak": self.weak}.get(tier, self.standard)


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
            advanced={"tune": "ssim"},
        )
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return out.getvalue()


def _jpeg_ready(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if img.mode in ("RGB", "L"):
        return _private(img)
    if img.mode in ("RGBA", "LA"):
        base = Image.new("RGB", img.size, background)
        base.paste(img.convert("RGBA"), mask=img.getchannel("A"))
        return base
    return img.convert("RGB")


def _colour_ready(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "RGBA"):
        return _private(img)
    return img.convert("RGBA" if img.mode == "LA" else "RGB")


def _private(img: Image.Image) -> Image.Image:
    """A new Image object over the same pixels, with no metadata.

    `Image.save` keeps its parameters on the Image object (`encoderinfo`), so two threads saving
    one object at once would swap qualities; each encode gets its own object (no pixel copy).
    Encoders also copy exif/icc/xmp from `info` when present: the copy carries none.
    """
    fresh = img._new(img.im)
    fresh.info = {}
    return fresh
