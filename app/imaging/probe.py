"""Checks that run before decoding: magic bytes, byte size, structure, and dimensions x frames.

One module for the API and the worker: the worker calls `probe`, an API that holds the upload
in memory can call `probe_bytes` (steps 1 and 2), so a file gets the same verdict everywhere:

1. `check_head`: the byte size and the magic bytes against the allow-list (never the name or the
   declared type);
2. `guards.inspect`: a bounded walk of the container (scan, zlib, text, EXIF, palette and
   frame-count bombs; truncation; every size the container declares);
3. Pillow's header parser, limited to the plugins of the sniffed format, for the size and mode
   that decoding will see.
"""

from __future__ import annotations

import mmap
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.imaging.errors import ImageRejected, Reason
from app.imaging.formats import MAGIC_BYTES_NEEDED, TIFF, Format, describe, sniff
from app.imaging.guards import Structure, inspect
from app.imaging.limits import Limits
from app.imaging.plugins import register_plugins

# What Pillow's plugins raise on a bad header (the AVIF plugin raises RuntimeError).
_HEADER_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    RuntimeError,
    struct.error,
)


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
            f"the bytes are not JPEG, PNG, GIF, WebP, TIFF, AVIF or HEIF ({describe(head)})",
        )
    return found


def probe(path: Path, limits: Limits) -> ProbeInfo:
    """Read only headers and structure; refuse anything over the limits before decoding."""
    register_plugins()
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        fmt = check_head(handle.read(MAGIC_BYTES_NEEDED), size, limits)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            structure = inspect(data, fmt, limits)
    width, height, frames, mode = _pillow_header(path, fmt, structure, limits)
    limits.check_total(width * height * frames, frames)
    return ProbeInfo(format=fmt, width=width, height=height, frames=frames, bytes=size, mode=mode)


def probe_bytes(data: bytes, limits: Limits) -> Structure:
    """The checks that need no file: for an API that holds the upload in memory."""
    fmt = check_head(data[:MAGIC_BYTES_NEEDED], len(data), limits)
    return inspect(data, fmt, limits)


def _pillow_header(
    path: Path, fmt: Format, structure: Structure, limits: Limits
) -> tuple[int, int, int, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path, formats=list(fmt.pillow)) as img:
                width, height = img.size
                limits.check_frame(width, height)
                frames = structure.frames or _frame_count(img, limits)
                return width, height, frames, img.mode
        except ImageRejected:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageRejected(Reason.TOO_MANY_PIXELS, str(exc)) from None
        except UnidentifiedImageError:
            if fmt is TIFF:
                # The structure walk found a sound TIFF: it is a variant Pillow does not read
                # (16-bit CIELab, LogLuv, an unknown photometric interpretation...).
                raise ImageRejected(
                    Reason.UNSUPPORTED_FORMAT,
                    "a TIFF variant the decoder does not read (colour space or bit depth)",
                ) from None
            raise ImageRejected(
                Reason.CORRUPT,
                f"the file starts like {fmt.name.upper()} but its header is unreadable",
            ) from None
        except _HEADER_ERRORS as exc:
            raise header_error(fmt, exc) from None


def header_error(fmt: Format, exc: BaseException) -> ImageRejected:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "truncated" in lowered or isinstance(exc, EOFError):
        return ImageRejected(Reason.TRUNCATED, f"{fmt.name.upper()} data ends early ({text})")
    if "decompressed data too large" in lowered:
        return ImageRejected(Reason.METADATA_TOO_LARGE, f"{fmt.name.upper()}: {text}")
    return ImageRejected(Reason.CORRUPT, f"{fmt.name.upper()} data is damaged ({text})")


def _frame_count(img: Image.Image, limits: Limits) -> int:
    """Pillow's count, for the formats whose walker leaves it to Pillow (cheap for those)."""
    frames = int(getattr(img, "n_frames", 1) or 1)
    limits.check_total(0, frames)
    return frames
