"""The widths resize made, between the chain's stages: stored raw, or decoded again.

IMAGEPIPE_WORKING_PYRAMID chooses (`Settings.stores_pyramid`): in a local folder the pyramid
(~13 MB for 12 MP) is stored and read back, which is free and faster than a decode; on S3
storing it is a billed PUT ($0.005 per 1,000 images against ~$0.0017 of CPU for a second
decode), so encode decodes the original again (docs/capacity.md, lever 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PIL import Image

from app import observe
from app.imaging import rawimage
from app.imaging.pipeline import Master, pyramid
from app.imaging.plan import plan_variants
from app.names import WORK_PREFIX
from app.services import Services
from app.storage import BlobNotFound

log = logging.getLogger(__name__)

Sizes = dict[int, Image.Image]


def master_key(image_id: str) -> str:
    return f"{WORK_PREFIX}/{image_id}/master.raw"


def of(master: Master) -> Sizes:
    """Every width a variant of ``master`` needs, each resized once."""
    with observe.timed("resize"):
        widths = [s.width for s in plan_variants(master.width, height=master.height)]
        return pyramid(master.image, widths)


def save(services: Services, image_id: str, sizes: Sizes) -> None:
    if services.settings.stores_pyramid:
        services.variants.put(
            master_key(image_id), rawimage.dump_set(sizes), content_type="application/octet-stream"
        )


def load(services: Services, image_id: str, decode: Callable[[], Master | None]) -> Sizes | None:
    """The widths resize made: read back when it stored them, else ``decode`` the original
    again (the same pixels: the same decode and resize). None when ``decode`` gave up."""
    if services.settings.stores_pyramid:
        try:
            return rawimage.load_set(services.variants.get(master_key(image_id)))
        except BlobNotFound:  # expired under a long backlog, or a worker set the other way
            log.info("image %s: no stored pyramid, decoding the original again", image_id)
    master = decode()
    return None if master is None else of(master)


def drop(services: Services, image_id: str) -> None:
    # Not stored: nothing to ask S3 about (a HEAD is billed). One a worker set the other way
    # left behind is expired by the lifecycle rule on _work/ (infra/pulumi).
    if services.settings.stores_pyramid:
        services.variants.delete(master_key(image_id))  # idempotent: gone is fine
