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
        ("160-lq.avif", "160-lq.webp"),  # a placeholder for a placeholder (2g, Save-Data)
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


def test_the_placeholder_never_stands_in_for_a_picture(services: Services) -> None:
    record = services.catalog.get(started(services, "resize"))
    # Only the placeholder stored (the first paint's 640 taken out of the record); the rest
    # is recorded by resize as left to first request, which stands in for nothing.
    only = record.evolve(variants=tuple(v for v in record.variants if v.name != "640.webp"))
    assert [v.name for v in only.variants if not v.on_request] == ["160-lq.webp"]
    assert stand_in(only, "160-lq.avif").name == "160-lq.webp"  # type: ignore[union-attr]
    assert stand_in(only, "320.avif") is None  # a 160 px blur is no 320 picture


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
    # Every WebP up front but 640-lq (IMAGEPIPE_AVIF=false's default; AVIF's until 2026-11-30).
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
    # Ready: 1280.webp is left to its first request, and is now made, not stood in for.
    assert services.catalog.get(image_id).variant("1280.webp").on_request  # type: ignore[union-attr]
    assert chosen(services, image_id, "1280.webp") is None
    failed = started(services, "resize", image_id="failed")
    assert chosen(services, failed, "1280.avif") == "640.webp"
    processing.fail(services, failed, "corrupt", "test")
    assert services.catalog.get(failed).variant("640.webp") is not None
    assert chosen(services, failed, "1280.avif") is None


def test_the_weak_tier_stands_in_for_the_weak_tier(tmp_path: Path) -> None:
    """3g is sent 640-lq: where its WebP is stored, it beats the heavier standard 640."""
    services = build_services(make_settings(tmp_path, eager_variants=parse_eager("all,-jpg")))
    image_id = started(services, "resize", "compress")
    assert chosen(services, image_id, "640-lq.avif") == "640-lq.webp"
    assert chosen(services, image_id, "640.avif") == "640.webp"


def test_a_picture_gets_the_standard_tier_over_the_weak_one(tmp_path: Path) -> None:
    # 640.webp (the first paint) and 640-lq.webp stored; no WebP wider.
    eager = parse_eager("all,-jpg,-standard.webp")
    services = build_services(make_settings(tmp_path, eager_variants=eager))
    image_id = started(services, "resize", "compress")
    record = services.catalog.get(image_id)
    stored = {v.name for v in record.variants if not v.on_request}
    assert {"640.webp", "640-lq.webp"} <= stored and "1280.webp" not in stored
    for order in (record.variants, tuple(reversed(record.variants))):  # not the record's order
        listed = record.evolve(variants=order)
        for name in ("720.avif", "1280.avif"):
            assert stand_in(listed, name).name == "640.webp", name  # type: ignore[union-attr]
