"""Resizing: Lanczos, never upscaled."""

from __future__ import annotations

from PIL import Image


def target_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def resize_to_width(img: Image.Image, max_width: int) -> Image.Image:
    size = target_size(img.width, img.height, max_width)
    if size == img.size:
        return img
    # reducing_gap lets Pillow box-reduce first on large factors: same look, a fraction of the time.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
