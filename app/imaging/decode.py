"""Decode once, at the smallest size that still serves the largest variant."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.imaging.colour import to_srgb
from app.imaging.errors import ImageRejected, Reason
from app.imaging.plugins import register_plugins
from app.imaging.probe import ProbeInfo, header_error
from app.imaging.resize import resize_to_width

_TRANSPOSING = {5, 6, 7, 8}


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # first frame, upright, sRGB, no wider than asked
    width: int  # the original's upright size
    height: int


def decode_master(path: Path, info: ProbeInfo, width_for: Callable[[int], int]) -> Decoded:
    """Decode once; width_for maps the upright original width to the width we need."""
    register_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path, formats=list(info.format.pillow)) as img:
                orientation = _orientation(img)
                upright = (
                    (info.height, info.width)
                    if orientation in _TRANSPOSING
                    else (info.width, info.height)
                )
                max_width = width_for(upright[0])
                _draft(img, upright[0], max_width)
                img.load()
                image = resize_to_width(to_srgb(_orient(img, orientation)), max_width)
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


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not stop the image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(img: Image.Image, orientation: int) -> Image.Image:
    if orientation == 1:
        return img
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    out = img.transpose(method)
    out.info = img.info
    return out


def _draft(img: Image.Image, upright_width: int, max_width: int) -> None:
    """Let libjpeg scale by 1/2, 1/4 or 1/8 in the DCT domain when the target is small enough."""
    if img.format not in ("JPEG", "MPO") or max_width >= upright_width:
        return
    scale = max_width / upright_width
    img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
