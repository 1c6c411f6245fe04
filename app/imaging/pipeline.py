"""The image pipeline as small steps: probe -> decode master -> resize cascade -> encode.

The original is decoded once (at DCT scale for JPEG), every width is resized once from the next
width up, and encodes run side by side on a small thread pool: Pillow releases the GIL inside the
WebP and AVIF encoders and inside resampling, so two threads keep two cores busy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from PIL import Image

from app.imaging.decode import decode_master
from app.imaging.encode import EncodeSettings, encode
from app.imaging.limits import Limits
from app.imaging.plan import PHONE_TIER, VariantSpec, master_width, phone_encode
from app.imaging.probe import ProbeInfo, probe
from app.imaging.resize import cascade

# Relative encode cost, to start the longest jobs first (a shorter makespan on two threads).
_COST = {"avif": 3.0, "webp": 2.0, "jpg": 0.5}


@dataclass(frozen=True)
class Rendered:
    spec: VariantSpec
    data: bytes
    width: int
    height: int
    seconds: float = 0.0  # the encode's own time, for the worker's per-format metrics


@dataclass(frozen=True)
class Master:
    info: ProbeInfo
    image: Image.Image  # upright, sRGB, at most as wide as the largest variant
    width: int  # upright size of the original
    height: int


def load_master(path: Path, limits: Limits) -> Master:
    info = probe(path, limits)
    decoded = decode_master(path, info, master_width, limits.decode_memory_bytes)
    return Master(info=info, image=decoded.image, width=decoded.width, height=decoded.height)


def pyramid(image: Image.Image, widths: Iterable[int]) -> dict[int, Image.Image]:
    """Every width asked, each resized once from the next one up (see resize.cascade)."""
    return cascade(image, widths)


def render(
    image: Image.Image | Mapping[int, Image.Image],
    specs: Iterable[VariantSpec],
    settings: EncodeSettings,
) -> Iterator[Rendered]:
    """Encode each spec (in the order given), resizing once per width.

    `image` is the master, or a pyramid from `pyramid()` that already holds every width.
    """
    todo = list(specs)
    sizes = dict(image) if isinstance(image, Mapping) else pyramid(image, [s.width for s in todo])
    missing = {s.width for s in todo} - set(sizes)
    if missing:
        sizes |= pyramid(sizes[max(sizes)], sorted(missing))
    if settings.threads <= 1 or len(todo) <= 1:
        for spec in todo:
            yield _render_one(sizes[spec.width], spec, settings)
        return
    pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="encode")
    try:
        futures: dict[int, Future[Rendered]] = {}
        for i in sorted(range(len(todo)), key=lambda i: -_cost(todo[i])):
            futures[i] = pool.submit(_render_one, sizes[todo[i].width], todo[i], settings)
        for i in range(len(todo)):
            yield futures[i].result()
    finally:
        # A caller that stops early (next(render(...))) does not wait for the encodes it dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _render_one(frame: Image.Image, spec: VariantSpec, settings: EncodeSettings) -> Rendered:
    if spec.tier == PHONE_TIER:
        gray = frame.mode in ("L", "LA")
        quality, settings = phone_encode(frame.size, settings, gray=gray)
    else:
        quality = settings.quality_for(spec.tier).for_format(spec.format)
    start = perf_counter()
    data = encode(frame, spec.format, quality, settings)
    return Rendered(spec, data, frame.width, frame.height, perf_counter() - start)


def _cost(spec: VariantSpec) -> float:
    return spec.width * spec.width * _COST.get(spec.format, 1.0)
