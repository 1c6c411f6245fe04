"""Decode once, at the smallest size that still serves the largest variant.

The steps, cheapest order first: read the orientation -> let libjpeg scale in the DCT domain
(draft) -> decode -> reduce to 8 bits -> resize to the master width -> colour-convert to sRGB ->
turn upright. Colour conversion and the transpose run on the resized master, not on the full frame.

Orientation: EXIF 2-8 for JPEG, PNG, WebP and TIFF. AVIF keeps its rotation in the container
(irot/imir); Pillow 13 reports it as the EXIF orientation and leaves the pixels as stored, so the
same step applies it. pillow-heif applies irot/imir while decoding and reports orientation 1.
Multi-frame files (animated GIF/WebP, MPO) give their first frame; an UltraHDR JPEG gives its SDR
base image (the gain map is a second MPF picture that is never read).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.imaging.colour import to_8bit, to_srgb
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import MiB
from app.imaging.plugins import register_plugins
from app.imaging.probe import ProbeInfo, header_error
from app.imaging.resize import resize_to

# What Pillow holds per decoded pixel: every multi-band mode takes 4 bytes (RGB as RGBX).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_TRANSPOSING = {5, 6, 7, 8}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # first frame, upright, sRGB, no wider than asked
    width: int  # the original's upright size
    height: int


def decode_master(
    path: Path,
    info: ProbeInfo,
    width_for: Callable[[int], int],
    memory_bytes: int | None = None,
) -> Decoded:
    """Decode once; width_for maps the upright original width to the width we need.

    With memory_bytes, a frame whose decoded pixels alone would take more is refused before
    decoding (memory_limit): the sandbox's address-space ceiling is the backstop, not the rule,
    since a child can reuse memory its parent had already mapped without it counting.
    """
    register_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path, formats=list(info.format.pillow)) as img:
                image, upright = _decode(img, width_for, memory_bytes)
        except ImageRejected:
            raise
        except MemoryError:
            raise ImageRejected(
                Reason.MEMORY_LIMIT, "decoding needed more memory than allowed"
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError) as exc:
            raise header_error(info.format, exc) from None
    image.info = {}
    return Decoded(image=image, width=upright[0], height=upright[1])


def _decode(
    img: Image.Image, width_for: Callable[[int], int], memory_bytes: int | None
) -> tuple[Image.Image, tuple[int, int]]:
    orientation = orientation_of(img)
    transposing = orientation in _TRANSPOSING
    upright = (img.height, img.width) if transposing else (img.width, img.height)
    max_width = min(width_for(upright[0]), upright[0])
    # The master's size comes from the original's, so every variant has the size a direct
    # downscale of the original would have, whatever scale the decoder picked.
    master = (max_width, max(1, round(upright[1] * max_width / upright[0])))
    stored = (master[1], master[0]) if transposing else master
    icc = img.info.get("icc_profile")
    _draft(img, stored)
    if memory_bytes is not None:
        _check_room(img, memory_bytes)  # after the draft: JPEGs decode at their DCT scale
    img.load()
    frame = resize_to(to_8bit(img), stored)
    frame = to_srgb(frame, icc if isinstance(icc, bytes) else None)
    if orientation != 1:
        frame = frame.transpose(_TRANSPOSE[orientation])
    return frame, upright


def _check_room(img: Image.Image, memory_bytes: int) -> None:
    need = img.width * img.height * _BYTES_PER_PIXEL.get(img.mode, 4)
    if need > memory_bytes:
        raise ImageRejected(
            Reason.MEMORY_LIMIT,
            f"decoding {img.width}x{img.height} {img.mode} needs {need / MiB:.0f} MiB, over the "
            f"{memory_bytes / MiB:.0f} MiB allowed",
        )


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not stop the image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _draft(img: Image.Image, stored: tuple[int, int]) -> None:
    """Let libjpeg scale by 1/2, 1/4 or 1/8 in the DCT domain when the target is small enough."""
    if img.format not in ("JPEG", "MPO") or stored[0] >= img.width:
        return
    scale = stored[0] / img.width
    img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
