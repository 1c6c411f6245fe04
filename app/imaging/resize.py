"""Resizing: Lanczos3, never upscaled, and a cascade so each width is made from the next one up.

The common modes (RGB, RGBA, L, CMYK) go through fast_image_resize (cykooz_resizer): the same
Lanczos3 filter as Pillow's, in SIMD (AVX2/SSE4.1/Neon), 5-9x faster, and RGBA is resized with
premultiplied alpha so transparent edges get no dark fringe. Its output differs from Pillow's by
rounding only (SSIM 0.999, docs/imaging.md). Other modes (LA, wide modes) use Pillow.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Iterable
from pathlib import Path

from cykooz_resizer import Resizer
from PIL import Image

_FAST_MODES = frozenset({"RGB", "RGBA", "L", "CMYK"})
_SLACK = 64 * 1024 * 1024  # thread arenas and stacks the estimate leaves out
_local = threading.local()  # a Resizer keeps scratch buffers: one per thread


def target_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def resize_to_width(img: Image.Image, max_width: int) -> Image.Image:
    return resize_to(img, target_size(img.width, img.height, max_width))


def resize_to(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == img.size:
        return img
    if img.mode in _FAST_MODES and _room_for_fast(img, size):
        out = Image.new(img.mode, size)
        _resizer().resize_pil(img, out)  # Lanczos3 is its default
        return out
    # reducing_gap lets Pillow box-reduce first on large factors: same look, a fraction of the time.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _room_for_fast(img: Image.Image, size: tuple[int, int]) -> bool:
    """Whether fast_image_resize's buffers surely fit under the address-space limit.

    Rust aborts the whole process when an allocation fails, where Pillow raises MemoryError
    (which the sandbox reports as memory_limit); so under a limit (the decode sandbox, a
    worker) an image too big for the headroom left goes through Pillow. Its buffers: the
    first pass (new width x old height) and, for RGBA, a premultiplied copy of the source.
    """
    limit, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return True
    try:
        used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return False
    need = 4 * size[0] * img.height + (4 * img.width * img.height if img.mode == "RGBA" else 0)
    return used + 2 * need + _SLACK < limit


def _resizer() -> Resizer:
    resizer: Resizer | None = getattr(_local, "resizer", None)
    if resizer is None:
        resizer = _local.resizer = Resizer()
    return resizer


# A source at least this much wider than its target. A mild step from an image that was itself
# resampled (the 720 phone slot down to 640) softens it measurably more than the same width made
# from the next slot up: SSIM 0.946 against 0.953 for plasma_Path.jpg's 640.avif.
MIN_STEP = 1.5


def cascade(img: Image.Image, widths: Iterable[int]) -> dict[int, Image.Image]:
    """One image per width, each made from the smallest already made that is at least
    MIN_STEP times as wide (else from the master).

    Going 1920 -> 1280 -> 640 -> 320 -> 160 costs about a third of resizing every width from the
    master, with SSIM against an exact Lanczos downscale of the original still above 0.995
    (measured in docs/imaging.md). Heights are rounded from the master's aspect ratio, so a
    cascaded image has exactly the size a direct resize would have.
    """
    made: dict[int, Image.Image] = {img.width: img}
    for width in sorted(set(widths), reverse=True):
        size = target_size(img.width, img.height, width)
        if size[0] in made:
            made[width] = made[size[0]]
            continue
        wide = [m for m in made.values() if m.width >= size[0] * MIN_STEP]
        source = min(wide, key=lambda m: m.width) if wide else img
        made[width] = made[size[0]] = resize_to(source, size)
    return {w: made[w] for w in widths}
