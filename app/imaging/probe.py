"""Checks that run before decoding: magic bytes, byte size, and dimensions x frames from the header.

The API and the worker both call `probe`, so the same file gets the same verdict everywhere.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.imaging.errors import ImageRejected, Reason
from app.imaging.formats import MAGIC_BYTES_NEEDED, Format, sniff
from app.imaging.limits import Limits
from app.imaging.plugins import register_plugins


@dataclass(frozen=True)
class ProbeInfo:
    format: Format
    width: int
    height: int
    frames: int
    bytes: int
    mode: str


def check_head(head: bytes, size: int, limits: Limits) -> Format:
    """What can be decided from the first bytes and the size alone."""
    if size == 0:
        raise ImageRejected(Reason.EMPTY_FILE, "the file is empty")
    if size > limits.max_bytes:
        raise ImageRejected(
            Reason.FILE_TOO_LARGE, f"{size} bytes is over the limit of {limits.max_bytes}"
        )
    found = sniff(head)
    if found is None:
        raise ImageRejected(
            Reason.UNSUPPORTED_FORMAT,
            "the bytes are not JPEG, PNG, GIF, WebP, TIFF, AVIF or HEIF",
        )
    return found


def probe(path: Path, limits: Limits) -> ProbeInfo:
    """Read only the header; refuse anything over the limits before a pixel is decoded."""
    register_plugins()
    size = os.path.getsize(path)
    with path.open("rb") as handle:
        head = handle.read(MAGIC_BYTES_NEEDED)
    fmt = check_head(head, size, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path, formats=list(fmt.pillow)) as img:
                width, height = img.size
                _check_pixels(width, height, 1, limits)
                frames = _frame_count(img, limits)
                mode = img.mode
        except ImageRejected:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageRejected(Reason.TOO_MANY_PIXELS, str(exc)) from None
        except UnidentifiedImageError:
            raise ImageRejected(
                Reason.CORRUPT,
                f"the file starts like {fmt.name.upper()} but its header is unreadable",
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError) as exc:
            raise header_error(fmt, exc) from None
    _check_pixels(width, height, frames, limits)
    return ProbeInfo(format=fmt, width=width, height=height, frames=frames, bytes=size, mode=mode)


def header_error(fmt: Format, exc: BaseException) -> ImageRejected:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return ImageRejected(Reason.TRUNCATED, f"{fmt.name.upper()} data ends early ({text})")
    return ImageRejected(Reason.CORRUPT, f"{fmt.name.upper()} data is damaged ({text})")


def _frame_count(img: Image.Image, limits: Limits) -> int:
    frames = int(getattr(img, "n_frames", 1) or 1)
    if frames > limits.max_frames:
        raise ImageRejected(
            Reason.TOO_MANY_FRAMES, f"{frames} frames is over the limit of {limits.max_frames}"
        )
    return frames


def _check_pixels(width: int, height: int, frames: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise ImageRejected(Reason.CORRUPT, f"the header declares {width}x{height} pixels")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise ImageRejected(
            Reason.TOO_MANY_PIXELS,
            f"{width}x{height} is {pixels / 1e6:.1f} MP, over the limit of "
            f"{limits.max_pixels / 1e6:.0f} MP per frame",
        )
    if pixels * frames > limits.max_total_pixels:
        raise ImageRejected(
            Reason.TOO_MANY_PIXELS,
            f"{frames} frames of {width}x{height} is {pixels * frames / 1e6:.0f} MP, over the "
            f"limit of {limits.max_total_pixels / 1e6:.0f} MP across all frames",
        )
