"""The inline placeholder: a ThumbHash, a tiny WebP data URI and the dominant colour."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.imaging import thumbhash

PLACEHOLDER_BOX = 100  # ThumbHash encodes at most 100x100 pixels
_PREVIEW_WIDTH = 16


@dataclass(frozen=True)
class PlaceholderData:
    thumbhash: str  # base64
    data_uri: str
    dominant_color: str  # "#rrggbb"

    @property
    def inline_bytes(self) -> int:
        return len(self.thumbhash) + len(self.data_uri) + len(self.dominant_color)


def make_placeholder(img: Image.Image) -> PlaceholderData:
    rgba = img.convert("RGBA")
    small = rgba.copy()
    small.thumbnail((PLACEHOLDER_BOX, PLACEHOLDER_BOX), Image.Resampling.BOX)
    hash_ = thumbhash.encode(np.asarray(small, dtype=np.uint8))
    return PlaceholderData(
        thumbhash=base64.b64encode(hash_).decode(),
        data_uri=_preview_uri(small),
        dominant_color=_dominant(small),
    )


def _preview_uri(small: Image.Image) -> str:
    """A WebP that fits a 16 px box (a tall image must not make a long strip)."""
    tiny = small.copy()
    tiny.thumbnail((_PREVIEW_WIDTH, _PREVIEW_WIDTH), Image.Resampling.LANCZOS)
    if tiny.getchannel("A").getextrema() == (255, 255):
        tiny = tiny.convert("RGB")
    out = io.BytesIO()
    tiny.save(out, "WEBP", quality=30, method=6)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()


def _dominant(small: Image.Image) -> str:
    """The most common of five median-cut colours, ignoring transparent pixels."""
    pixels = np.asarray(small)
    opaque = pixels[pixels[..., 3] > 127][:, :3]
    if opaque.size == 0:
        return "#000000"
    strip = Image.fromarray(opaque.reshape(1, -1, 3).astype(np.uint8), "RGB")
    palette_img = strip.quantize(colors=5, method=Image.Quantize.MEDIANCUT)
    counts = np.bincount(np.asarray(palette_img).ravel())
    index = int(counts.argmax())
    palette = palette_img.getpalette() or [0, 0, 0]
    r, g, b = palette[3 * index : 3 * index + 3]
    return f"#{r:02x}{g:02x}{b:02x}"
