"""Which stored variant stands in for one not made yet, at each point of a real chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import processing
from app.eager import parse_eager
from app.services import Services, build_services
from app.stand_in import stand_in
from tests.app.test_processing import run_chain, upload
from tests.conftest import make_settings, photo


def started(services: Services, *stages: str, image_id: str = "img1") -> str:
    """mate_Storm.jpg (1920 px wide) claimed and taken through ``stages`` only."""
    upload(services, photo("mate_Storm.jpg"), image_id)
    assert processing.claim(services, image_id)
    for stage in stages:
        getattr(processing, stage)(services, image_id)
    return image_id


def chosen(services: Services, image_id: str, name: str) -> str | None:
    substitute = stand_in(services.catalog.get(image_id), name)
    return None if substitute is None else substitute.name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1280.avif", "640.webp"),  # AVIF browsers take WebP; the narrower one is all there is
        ("320.avif", "640.webp"),  # wider wins: the browser scales it down
        ("720.avif", "640.webp"),
        ("640-lq.avif", "640.webp"),
        ("1920.webp", "640.webp"),
        ("1280.jpg", None),  # a JPEG-only browser takes no WebP: nothing stands in
        ("160-lq.jpg", None),
        ("nope.avif", None),
    ],
)
def test_after_the_first_paint(services: Services, name: str, expected: str | None) -> None:
    image_id = started(services, "resize")
    assert chosen(services, image_id, name) == expected
    processing.compress(services, image_id)  # by default no WebP past the first paint
    assert chosen(services, image_id, name) == expected


def test_the_placeholder_tier_never_stands_in(services: Services) -> None:
    image_id = started(services, "resize")
    record = services.catalog.get(image_id)
    assert record.variant("160-lq.webp") is not None
    assert chosen(services, image_id, "160-lq.avif") == "640.webp"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1280.avif", "1280.webp"),  # the same slot in WebP, once compress stored it
        ("720.avif", "1280.webp"),  # the closest slot at least as wide
        ("1920.avif", "1920.webp"),
        ("640-lq.avif", "640.webp"),
        ("640-lq.webp", "640.webp"),  # left to its first request: the standard 640 meanwhile
        ("640.jpg", None),
    ],
)
def test_after_the_fast_formats(tmp_path: Path, name: str, expected: str | None) -> None:
    # Every WebP up front but 640-lq (the default before 2026-12: IMAGEPIPE_AVIF=false's).
    services = build_services(
        make_settings(tmp_path, eager_variants=parse_eager("all,-jpg,-weak.webp"))
    )
    image_id = started(services, "resize", "compress")
    assert chosen(services, image_id, name) == expected


def test_nothing_stands_in_before_the_first_paint_or_once_ready_or_failed(
    services: Services,
) -> None:
    image_id = started(services)
    assert chosen(services, image_id, "1280.avif") is None  # nothing stored yet
    run_chain(services, image_id)
    assert chosen(services, image_id, "1280.jpg") is None  # ready: the real one, or a render
    failed = started(services, "resize", image_id="failed")
    assert chosen(services, failed, "1280.avif") == "640.webp"
    processing.fail(services, failed, "corrupt", "test")
    assert services.catalog.get(failed).variant("640.webp") is not None
    assert chosen(services, failed, "1280.avif") is None
