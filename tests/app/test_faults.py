"""Injected faults: storage and catalog fail one call in five and slow others down, and every
image still ends ready, with one set of variants."""

from __future__ import annotations

from pathlib import Path

from app import processing
from app.catalog import Status, open_catalog
from app.rendering import render_on_request
from app.retrying import retrying
from app.services import Services
from app.storage import open_blob_store
from tests.conftest import make_settings, photo
from tests.faults import counts, faulty_catalog, faulty_store


def test_every_image_ends_ready_through_a_fifth_of_calls_failing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    raw = {
        "originals": faulty_store(open_blob_store(settings.originals_url), seed=1),
        "variants": faulty_store(open_blob_store(settings.variants_url), seed=2),
        "catalog": faulty_catalog(open_catalog(settings.catalog_url), seed=3),
    }
    # Wrapped exactly as build_services wraps a real adapter.
    svc = Services(
        settings=settings,
        originals=retrying(raw["originals"], base=0.001),
        variants=retrying(raw["variants"], base=0.001),
        catalog=retrying(raw["catalog"], base=0.001),
    )
    ids = []
    for n, name in enumerate(("mate_Storm.jpg", "skimage_coffee.png", "plasma_Grey_grayscale.jpg")):
        image_id = f"img{n}"
        with photo(name).open("rb") as handle:
            svc.originals.put(image_id, handle, content_type="image/jpeg")
        svc.catalog.add(svc.new_record(image_id, "alice", "image/jpeg", name))
        ids.append(image_id)
    for image_id in ids:
        attempt = processing.claim(svc, image_id)
        for stage in (processing.resize, processing.compress, processing.encode, processing.record):
            assert stage(svc, image_id, attempt)
    for image_id in ids:
        record = svc.catalog.get(image_id)
        assert record.status is Status.READY, record.failure_detail
        made = {v.key for v in record.variants if not v.on_request}
        assert set(svc.variants.list(f"{image_id}/")) == made
        # The rest on their first request, through the same failing stores.
        for variant in record.variants:
            if variant.on_request:
                render_on_request(svc, image_id, variant.name)
        assert set(svc.variants.list(f"{image_id}/")) == {v.key for v in record.variants}
    injected = sum(counts(wrapped)()[0] for wrapped in raw.values())
    assert injected >= 10  # the faults really happened
