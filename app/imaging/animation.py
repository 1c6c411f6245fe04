"""An animated WebP variant of an animated GIF or WebP, under a frame and pixel budget.

The still variants come from the first frame (decode.py); this keeps the motion. The budget bounds
both the work and the output: at most `max_frames` frames (longer animations keep every n-th frame
and add the dropped frames' time to the kept ones, so the loop lasts as long), at most `max_width`
pixels wide, and at most `max_pixels` pixels over all frames (the width shrinks to fit).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageSequence

from app.imaging.colour import to_srgb
from app.imaging.resize import resize_to

ANIMATED_NAME = "animated.webp"
_MIN_DURATION_MS = 20  # as browsers do, shorter frame times play at 100 ms
_DEFAULT_DURATION_MS = 100


@dataclass(frozen=True)
class AnimationBudget:
    max_frames: int = 100
    max_width: int = 640
    max_pixels: int = 24_000_000  # output width x height x frames
    quality: int = 70
    method: int = 2  # animation encodes are many frames: libwebp's fast method


@dataclass(frozen=True)
class Animation:
    data: bytes
    width: int
    height: int
    frames: int
    duration_ms: int


def make_animation(
    path: Path, budget: AnimationBudget | None = None, formats: tuple[str, ...] = ("GIF", "WEBP")
) -> Animation | None:
    """The animated WebP, or None when the file is not an animated GIF or WebP."""
    budget = budget or AnimationBudget()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path, formats=list(formats)) as img:
            if img.format not in ("GIF", "WEBP") or not getattr(img, "is_animated", False):
                return None
            total = int(getattr(img, "n_frames", 1))
            step = max(1, math.ceil(total / budget.max_frames))
            kept = math.ceil(total / step)
            size = _frame_size(img.width, img.height, kept, budget)
            loop = int(img.info.get("loop", 0))
            frames: list[Image.Image] = []
            durations: list[int] = []
            for index, frame in enumerate(ImageSequence.Iterator(img)):
                duration = _duration(frame.info.get("duration"))
                if index % step:
                    durations[-1] += duration
                    continue
                icc = frame.info.get("icc_profile")
                rgba = frame.convert("RGBA")
                profile = icc if isinstance(icc, bytes) else None
                frames.append(to_srgb(resize_to(rgba, size), profile))
                durations.append(duration)
    out = io.BytesIO()
    frames[0].save(
        out,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=loop,
        quality=budget.quality,
        method=budget.method,
        allow_mixed=False,
    )
    return Animation(
        data=out.getvalue(),
        width=size[0],
        height=size[1],
        frames=len(frames),
        duration_ms=sum(durations),
    )


def _frame_size(width: int, height: int, frames: int, budget: AnimationBudget) -> tuple[int, int]:
    scale = min(1.0, budget.max_width / width)
    if width * height * scale * scale * frames > budget.max_pixels:
        scale = math.sqrt(budget.max_pixels / (width * height * frames))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _duration(value: object) -> int:
    if isinstance(value, (int, float)) and value >= _MIN_DURATION_MS:
        return int(value)
    return _DEFAULT_DURATION_MS
