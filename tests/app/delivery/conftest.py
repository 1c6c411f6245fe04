"""Processed images for the delivery tests, made as tests/app/api/test_delivery.py makes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app import processing
from app.services import Services
from tests.app.test_processing import run_chain, upload
from tests.conftest import jpeg_bytes, photo


@pytest.fixture
def ready(services: Services) -> str:
    """A 600x400 photo, every variant made: its ``640`` slot is 600 px wide."""
    image_id = upload(services, photo("skimage_coffee.png"), "coffee")
    processing.claim(services, image_id)
    run_chain(services, image_id)
    return image_id


@pytest.fixture
def wide_1000(services: Services, tmp_path: Path) -> str:
    """A real photo at 1000 px wide: slots 320, 640 and 1280 (stored 1000 px wide)."""
    with Image.open(photo("mate_Storm.jpg")) as img:
        small = img.convert("RGB").resize((1000, 667), Image.Resampling.LANCZOS)
    source = tmp_path / "storm-1000.jpg"
    source.write_bytes(jpeg_bytes(small, quality=90))
    image_id = upload(services, source, "storm1000")
    processing.claim(services, image_id)
    run_chain(services, image_id)
    return image_id
