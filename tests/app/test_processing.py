"""The processing stages against real embedded backends, as the worker runs them."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app import packs, processing, working_pyramid
from app.catalog import Status
from app.rendering import render_on_request
from app.services import Services
from tests.conftest import photo


def upload(services: Services, source: Path, image_id: str = "img1") -> str:
    with source.open("rb") as handle:
        services.originals.put(image_id, handle, content_type="image/jpeg")
    services.catalog.add(services.new_record(image_id, "alice", "image/jpeg", source.name))
    return image_id


def run_chain(services: Services, image_id: str) -> None:
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        stage(services, image_id)


def processed(services: Services, image_id: str = "img1") -> str:
    """mate_Storm.jpg uploaded, claimed and taken through the whole chain."""
    upload(services, photo("mate_Storm.jpg"), image_id)
    assert processing.claim(services, image_id)
    run_chain(services, image_id)
    return image_id


def test_the_chain_makes_every_variant_and_records_it(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    assert processing.claim(services, image_id)
    run_chain(services, image_id)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    assert (record.width, record.height, record.format) == (1920, 1280, "jpeg")
    assert record.size == round(photo("mate_Storm.jpg").stat().st_size / 1024)
    assert record.processed_url == f"http://testserver/i/{image_id}"
    names = {v.name for v in record.variants}
    assert {f"{w}.{f}" for w in (320, 640, 1280, 1920) for f in ("avif", "webp", "jpg")} <= names
    for recorded in record.variants:
        variant = recorded
        if recorded.on_request:  # IMAGEPIPE_EAGER_VARIANTS left it to its first request
            assert not services.variants.exists(recorded.key)
            made = render_on_request(services, image_id, recorded.name)
            variant = replace(recorded, bytes=len(made.data))
        data = packs.read(services.variants, variant)  # alone, or a range of its stage's pack
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (variant.width, variant.height)
        assert len(data) == variant.bytes
    assert record.placeholder is not None
    assert not services.variants.exists(working_pyramid.master_key(image_id))  # work file cleaned
    assert services.originals.exists(image_id)  # the original is kept


def test_fast_variants_are_recorded_before_avif(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    processing.claim(services, image_id)
    processing.resize(services, image_id)
    processing.compress(services, image_id)
    record = services.catalog.get(image_id)
    assert record.status is Status.PROCESSING
    formats = {v.format for v in record.variants}
    assert formats == {"webp", "jpg"}
    assert record.placeholder is not None


def test_resize_lists_the_variants_left_to_first_request_and_compress_then_has_nothing_to_do(
    services: Services,
) -> None:
    """By default every WebP and JPEG past the first paint is left to its first request: resize
    records them with the first paint, and compress (left out of such a chain) would neither
    read the pyramid nor write the record."""
    image_id = upload(services, photo("mate_Storm.jpg"))
    attempt = processing.claim(services, image_id)
    assert processing.resize(services, image_id, attempt)
    resized = services.catalog.get(image_id)
    lazy = {v.name for v in resized.variants if v.on_request}
    assert {"1280.webp", "1920.jpg", "640-lq.webp"} <= lazy
    assert "compress" not in processing.chain_stages(services.settings)
    # Any read of the pyramid would fail, and so would the decode it falls back on.
    services.variants.delete(working_pyramid.master_key(image_id))
    services.originals.delete(image_id)
    assert processing.compress(services, image_id, attempt)
    assert services.catalog.get(image_id) == resized  # not written


def test_encode_lists_what_a_chain_from_before_resize_listed_it_left_unlisted(
    services: Services,
) -> None:
    """A chain whose resize ran on the release before (which left the list to compress) still
    ends with every variant left to first request recorded."""
    image_id = upload(services, photo("mate_Storm.jpg"))
    attempt = processing.claim(services, image_id)
    processing.resize(services, image_id, attempt)
    resized = services.catalog.get(image_id)
    lazy = {v.name for v in resized.variants if v.on_request}
    assert lazy
    older = resized.evolve(variants=tuple(v for v in resized.variants if not v.on_request))
    services.catalog.save(older)
    for stage in (processing.compress, processing.encode, processing.record):
        assert stage(services, image_id, attempt)
    ready = services.catalog.get(image_id)
    assert ready.status is Status.READY
    assert {v.name for v in ready.variants if v.on_request} == lazy
    assert all(v.width > 0 and v.height > 0 for v in ready.variants)


class MasterWaitsForFirstPaint:
    """A variants store whose master PUT completes only once the catalog shows the first paint."""

    def __init__(self, services: Services, image_id: str) -> None:
        self._store, self._services, self._image_id = services.variants, services, image_id
        self.first_paint_seen_by_master_put = False

    def put(self, key: str, data: Any, **kwargs: Any) -> Any:
        if key == working_pyramid.master_key(self._image_id):
            deadline = time.monotonic() + 30  # generous: only the other thread's work to wait for
            while time.monotonic() < deadline and not self.first_paint_seen_by_master_put:
                record = self._services.catalog.get(self._image_id)
                self.first_paint_seen_by_master_put = record.placeholder is not None and any(
                    v.name == "640.webp" for v in record.variants
                )
                time.sleep(0.005)  # polling the catalog, not timing anything
        return self._store.put(key, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_the_first_paint_is_recorded_without_waiting_for_the_masters_put(
    services: Services,
) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    processing.claim(services, image_id)
    slow_master = MasterWaitsForFirstPaint(services, image_id)
    assert processing.resize(replace(services, variants=slow_master), image_id)  # type: ignore[arg-type]
    assert slow_master.first_paint_seen_by_master_put
    assert services.variants.exists(working_pyramid.master_key(image_id))  # stored all the same


def test_a_replayed_event_changes_nothing(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    processing.claim(services, image_id)
    run_chain(services, image_id)
    done = services.catalog.get(image_id)
    assert processing.claim(services, image_id) is None  # the replay is refused
    run_chain(services, image_id)  # stages that run anyway skip
    assert services.catalog.get(image_id) == done


def test_a_second_claim_while_processing_is_refused(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    assert processing.claim(services, image_id)
    assert processing.claim(services, image_id) is None


def test_a_pdf_named_jpg_fails_with_a_reason_and_keeps_the_original(
    services: Services, tmp_path: Path
) -> None:
    fake = tmp_path / "invoice.jpg"
    fake.write_bytes(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    image_id = upload(services, fake)
    processing.claim(services, image_id)
    run_chain(services, image_id)
    record = services.catalog.get(image_id)
    assert record.status is Status.FAILED
    assert record.failure_reason == "unsupported_format"
    assert record.variants == ()
    assert services.originals.exists(image_id)


def test_failure_never_overwrites_a_ready_record(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    processing.claim(services, image_id)
    run_chain(services, image_id)
    processing.fail(services, image_id, "decode_timeout", "late duplicate")
    assert services.catalog.get(image_id).status is Status.READY


def test_reconciler_requeues_stuck_images_and_fails_hopeless_ones(services: Services) -> None:
    from tasks.reconcile import MAX_ATTEMPTS, reconcile_once

    stuck = upload(services, photo("mate_Storm.jpg"), "stuck")
    processing.claim(services, stuck)
    hopeless = upload(services, photo("mate_Storm.jpg"), "hopeless")
    for _ in range(MAX_ATTEMPTS):
        processing.claim(services, hopeless, force=True)
    missing = upload(services, photo("mate_Storm.jpg"), "missing")
    services.originals.delete(missing)
    done = upload(services, photo("mate_Storm.jpg"), "done")
    processing.claim(services, done)
    run_chain(services, done)
    started: list[tuple[str, int]] = []
    # Seen from well past every deadline (stuck_after and the upload form's lifetime).
    later = time.time() + 2 * services.settings.upload_ttl_seconds
    counts = reconcile_once(services, lambda i, a: started.append((i, a)), now=later)
    assert started == [("stuck", 2)]
    assert counts == {"requeued": 1, "failed": 2}
    assert services.catalog.get("stuck").attempts == 2
    assert services.catalog.get("hopeless").failure_reason == "processing_timeout"
    assert services.catalog.get("missing").failure_reason == "upload_missing"
    assert services.catalog.get("done").status is Status.READY


def test_the_avif_write_marks_the_image_ready_and_record_only_drops_the_master(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three catalog writes per processed image after the upload's: claim, resize (the first
    paint and the variants left to first request) and encode (the AVIFs and `ready` at once);
    compress, with no WebP or JPEG to make up front by default, and record write nothing."""
    image_id = upload(services, photo("mate_Storm.jpg"))
    saves: list[str] = []
    real_save = services.catalog.save

    def save(record: Any) -> Any:
        saves.append(record.status.value)
        return real_save(record)

    monkeypatch.setattr(services.catalog, "save", save)
    attempt = processing.claim(services, image_id)
    for stage in (processing.resize, processing.compress, processing.encode):
        assert stage(services, image_id, attempt)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    assert record.processed_url == f"http://testserver/i/{image_id}"
    assert "avif" in {v.format for v in record.variants}
    assert services.variants.exists(working_pyramid.master_key(image_id))
    assert processing.record(services, image_id, attempt)
    assert not services.variants.exists(working_pyramid.master_key(image_id))
    assert processing.record(services, image_id, attempt)  # redelivered: still fine
    assert saves == ["processing", "processing", "ready"]
    assert services.catalog.get(image_id) == record
