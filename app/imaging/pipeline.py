"""The image pipeline as small steps: probe -> decode master -> (resize -> encode) per variant."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from app.imaging.decode import decode_master
from app.imaging.encode import EncodeSettings, encode
from app.imaging.limits import Limits
from app.imaging.plan import VariantSpec, master_width, plan_variants
from app.imaging.probe import ProbeInfo, probe
from app.imaging.resize import resize_to_width


@dataclass(frozen=True)
class Rendered:
    spec: VariantSpec
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Master:
    info: ProbeInfo
    image: Image.Image  # upright, sRGB, at most as wide as the largest variant
    width: int  # upright size of the original
    height: int


def load_master(path: Path, limits: Limits) -> Master:
    info = probe(path, limits)
    decoded = decode_master(path, info, master_width)
    return Master(info=info, image=decoded.image, width=decoded.width, height=decoded.height)


def render(
    image: Image.Image, specs: Iterable[VariantSpec], settings: EncodeSettings
) -> Iterator[Rendered]:
    """Encode each spec, resizing once per width however many formats share it."""
    resized: dict[int, Image.Image] = {}
    for spec in specs:
        if spec.width not in resized:
            resized[spec.width] = resize_to_width(image, spec.width)
        frame = resized[spec.width]
        quality = (settings.low if spec.tier == "low" else settings.standard).for_format(
            spec.format
        )
        yield Rendered(
            spec, encode(frame, spec.format, quality, settings), frame.width, frame.height
        )


def variants_for(master: Master, formats: tuple[str, ...]) -> list[VariantSpec]:
    return plan_variants(master.width, formats)
