"""Jobs for the warm encoder child's tests: the child imports this module by name to run them."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from PIL import Image

from app.imaging.contained import _render_list
from app.imaging.encode import EncodeSettings
from app.imaging.errors import ImageRejected, Reason
from app.imaging.plan import VariantSpec


def render_with_svt_segfaulting(
    sizes: dict[int, Image.Image], specs: list[VariantSpec], settings: EncodeSettings
) -> Any:
    """contained's job, with SVT-AV1 made to die of SIGSEGV the moment it is asked to encode."""
    real_save = Image.Image.save

    def save(self: Image.Image, fp: Any, format: str | None = None, **params: Any) -> None:
        if params.get("codec") == "svt":
            os.kill(os.getpid(), signal.SIGSEGV)
        real_save(self, fp, format, **params)

    Image.Image.save = save  # type: ignore[method-assign]
    return _render_list(sizes, specs, settings)


def spin() -> None:
    """A stuck encoder: never returns."""
    while True:
        time.sleep(0.05)


def allocate(size: int) -> int:
    return len(bytearray(size))


def reject() -> None:
    raise ImageRejected(Reason.CORRUPT, "a job that fails")
