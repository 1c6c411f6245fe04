"""Variants left to their first request: processing lists them, render_on_request makes them."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from app import processing, rendering
from app.catalog import Status
from app.eager import parse_eager
from app.rendering import RenderBusy, RenderRefused, render_on_request
from app.services import Services, build_services
from app.settings import Settings
from tests.app.test_processing import processed, run_chain, upload
from tests.conftest import make_settings, photo, variant_bytes

LAZY = ("1280.jpg", "640-lq.webp", "160-lq.jpg", "1920.jpg")


def test_the_default_leaves_jpegs_and_webps_past_the_first_paint_to_their_first_request(
    services: Services,
) -> None:
    image_id = processed(services)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    lazy = {v.name for v in record.variants if v.on_request}
    assert lazy == {
        "160-lq.jpg",
        "640-lq.jpg",
        "640-lq.webp",
        "320.jpg",
        "640.jpg",
        "1280.jpg",
        "1920.jpg",
        "320.webp",
        "1280.webp",
        "1920.webp",
    }  # 160-lq.webp and 640.webp are the first paint: made up front whatever the setting
    assert len(record.variants) == 19  # the record still lists every variant the image has
    for v in record.variants:
        assert services.variants.exists(v.key) is not v.on_request
        assert v.bytes == 0 if v.on_request else v.bytes > 0
    assert {v.name for v in record.variants if v.name.startswith("1280.")} == {
        "1280.avif",
        "1280.webp",
        "1280.jpg",
    }
    assert record.variant("1920.jpg") is not None
    assert (record.variant("1920.jpg").width, record.variant("1920.jpg").height) == (1920, 1280)  # type: ignore[union-attr]


def test_a_render_stores_the_bytes_processing_would_have_made(tmp_path: Path) -> None:
    eager = build_services(make_settings(tmp_path / "eager", eager_variants=parse_eager("all")))
    lazy = build_services(
        make_settings(tmp_path / "lazy", eager_variants=parse_eager("160-lq.webp,640.webp"))
    )
    processed(eager)
    processed(lazy)
    assert lazy.catalog.get("img1").variant("1280.avif").on_request  # type: ignore[union-attr]
    # One of each encoder and tier: JPEG, WebP weak tier, AVIF standard (SVT child), phone slot.
    for name in ("1280.jpg", "160-lq.jpg", "640-lq.webp", "1280.avif", "720.avif"):
        made = render_on_request(lazy, "img1", name)
        assert made.rendered
        assert made.data == variant_bytes(eager, "img1", name), name
        assert lazy.variants.get(f"img1/{name}") == made.data  # stored, for the CDN's next miss


def test_a_second_request_reads_what_the_first_stored(services: Services) -> None:
    image_id = processed(services)
    first = render_on_request(services, image_id, "640.jpg")
    again = render_on_request(services, image_id, "640.jpg")
    assert first.rendered and not again.rendered
    assert again.data == first.data and again.etag == first.etag
    assert again.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("image_id", "name", "status", "code"),
    [
        ("nope", "640.jpg", 404, "not_found"),  # no such image
        ("img1", "641.jpg", 404, "not_found"),  # not a variant name
        ("img1", "../img1", 404, "not_found"),
    ],
)
def test_bad_requests_are_refused_before_any_work(
    services: Services, image_id: str, name: str, status: int, code: str
) -> None:
    processed(services)
    with pytest.raises(RenderRefused) as refused:
        render_on_request(services, image_id, name)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_name_the_image_does_not_have_is_a_404(services: Services) -> None:
    image_id = processed(services)
    services.catalog.get(image_id)  # 1920 px wide: no larger slot, but every format
    small = upload(services, photo("skimage_coffee.png"), "small")  # 600 px: no 1280 slot
    assert processing.claim(services, small)
    run_chain(services, small)
    with pytest.raises(RenderRefused) as refused:
        render_on_request(services, small, "1280.jpg")
    assert refused.value.status == 404
    assert not services.variants.exists("small/1280.jpg")


def test_an_unprocessed_or_failed_image_is_a_409_and_nothing_is_stored(
    services: Services,
) -> None:
    pending = upload(services, photo("mate_Storm.jpg"), "pending")
    with pytest.raises(RenderRefused) as refused:
        render_on_request(services, pending, "640.jpg")
    assert (refused.value.status, refused.value.code) == (409, "not_ready")
    processing.fail(services, pending, "corrupt", "test")
    with pytest.raises(RenderRefused) as refused:
        render_on_request(services, pending, "640.jpg")
    assert (refused.value.status, refused.value.code) == (409, "failed")
    assert list(services.variants.list("pending/")) == []


def test_renders_past_the_bound_are_refused_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build_services(make_settings(tmp_path, render_concurrency=1))
    image_id = processed(services)
    started, release = threading.Event(), threading.Event()
    real_make = rendering._make

    def slow_make(*args: object) -> bytes:
        started.set()
        assert release.wait(60)
        return real_make(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rendering, "_make", slow_make)
    results: list[object] = []
    first = threading.Thread(
        target=lambda: results.append(render_on_request(services, image_id, "640.jpg"))
    )
    first.start()
    assert started.wait(60)
    try:
        with pytest.raises(RenderBusy):  # another variant while the only slot is taken
            render_on_request(services, image_id, "1280.jpg")
    finally:
        release.set()
        first.join(60)
    assert len(results) == 1
    assert not services.variants.exists(f"{image_id}/1280.jpg")
    assert render_on_request(services, image_id, "1280.jpg").rendered  # the slot is free again


def test_concurrent_first_requests_for_one_variant_render_it_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = processed(services)
    calls: list[str] = []
    real_make = rendering._make

    def counted(*args: object) -> bytes:
        calls.append("render")
        return real_make(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rendering, "_make", counted)
    out: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: out.append(render_on_request(services, image_id, "320.jpg").data)
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert calls == ["render"]
    assert len(out) == 4 and len(set(out)) == 1


def test_without_the_original_a_render_uses_the_widest_stored_variant(services: Services) -> None:
    image_id = processed(services)
    services.originals.delete(image_id)  # a retention rule expired it
    made = render_on_request(services, image_id, "640.jpg")
    assert made.rendered and made.data[:2] == b"\xff\xd8"


def test_the_setting_is_checked(tmp_path: Path) -> None:
    from app.settings import SettingsError

    with pytest.raises(SettingsError, match="IMAGEPIPE_EAGER_VARIANTS"):
        Settings.from_env(
            {"IMAGEPIPE_EAGER_VARIANTS": "all,-gif", "IMAGEPIPE_DATA_DIR": str(tmp_path)}
        )
    every = Settings.from_env(
        {"IMAGEPIPE_EAGER_VARIANTS": "all", "IMAGEPIPE_DATA_DIR": str(tmp_path)}
    )
    assert len(every.eager_variants.names) == 19
    assert (
        "640.jpg"
        not in replace(every, eager_variants=parse_eager("all,-standard.jpg")).eager_variants
    )


def test_a_reprocess_forgets_what_an_earlier_run_stored_under_names_now_left_out(
    tmp_path: Path,
) -> None:
    # Each variant its own object: a pack goes once no entry refers to it (tests/app/test_packs.py).
    every = make_settings(tmp_path, eager_variants=parse_eager("all"), pack_variants=False)
    image_id = processed(build_services(every))
    services = build_services(replace(every, eager_variants=parse_eager("all,-jpg")))
    assert services.variants.exists(f"{image_id}/640.jpg")  # made eagerly by the first run
    assert processing.claim_again(services, image_id, untouched_since=time.time() + 1)
    run_chain(services, image_id)
    record = services.catalog.get(image_id)
    assert record.variant("640.jpg").on_request  # type: ignore[union-attr]
    assert not services.variants.exists(f"{image_id}/640.jpg")  # made again on request
    assert services.variants.exists(f"{image_id}/640.webp")
