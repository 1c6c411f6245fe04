"""A stage's variants in one stored object (app/packs.py): what is stored, read back, dropped."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from app import packs, processing
from app.catalog import Status, mutate
from app.catalog.dynamodb import from_item, to_item
from app.eager import parse_eager
from app.rendering import render_on_request
from app.services import Services, build_services
from app.settings import Settings
from tests.app.test_processing import processed, upload
from tests.conftest import make_settings, photo


def stored_keys(services: Services, image_id: str) -> set[str]:
    return set(services.variants.list(f"{image_id}/"))


def test_each_stage_stores_its_variants_in_one_object(services: Services) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    attempt = processing.claim(services, image_id)
    assert processing.resize(services, image_id, attempt)
    first_paint = services.catalog.get(image_id)
    first = [v for v in first_paint.variants if not v.on_request]
    assert {v.name for v in first} == {"160-lq.webp", "640.webp"}
    assert len({v.key for v in first}) == 1
    assert stored_keys(services, image_id) == {first[0].key}
    assert first[0].key.startswith(f"{image_id}/{packs.PACK_PREFIX}")
    assert processing.encode(services, image_id, attempt)
    record = services.catalog.get(image_id)
    made = [v for v in record.variants if not v.on_request]
    avifs = [v for v in made if v.format == "avif"]
    assert len(avifs) >= 5
    assert len({v.key for v in avifs}) == 1
    assert stored_keys(services, image_id) == {first[0].key, avifs[0].key}  # 2 PUTs, 9 variants
    for variant in made:
        data = packs.read(services.variants, variant)
        assert len(data) == variant.bytes
        assert packs.etag(data) == variant.etag
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (variant.width, variant.height)
            assert image.format.lower() == variant.format


def test_without_packing_each_variant_is_its_own_object(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path, pack_variants=False))
    image_id = processed(services)
    record = services.catalog.get(image_id)
    made = [v for v in record.variants if not v.on_request]
    assert all(v.offset is None and v.key == f"{image_id}/{v.name}" for v in made)
    assert stored_keys(services, image_id) == {v.key for v in made}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, private_images=False)


def test_delivery_serves_a_packed_variant_and_revalidates_it(
    client: FlaskClient, services: Services
) -> None:
    image_id = processed(services, "packed")
    variant = services.catalog.get(image_id).variant("640.avif")
    assert variant is not None and variant.offset is not None
    served = client.get(f"/i/{image_id}/640.avif")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/avif"
    assert served.data == packs.read(services.variants, variant)
    assert Image.open(io.BytesIO(served.data)).size == (variant.width, variant.height)
    etag = served.headers["ETag"]
    again = client.get(f"/i/{image_id}/640.avif", headers={"If-None-Match": etag})
    assert again.status_code == 304
    made = render_on_request(services, image_id, "640.avif")  # CloudFront's failover origin
    assert (made.data, made.etag, made.rendered) == (served.data, etag.strip('"'), False)


def test_a_reprocess_drops_the_packs_it_replaced_and_none_still_referred_to(
    tmp_path: Path,
) -> None:
    every = make_settings(tmp_path, eager_variants=parse_eager("all"))
    image_id = processed(build_services(every))
    before = build_services(every).catalog.get(image_id)
    old_packs = {v.key for v in before.variants if v.offset is not None}
    assert len(old_packs) == 3  # the first paint, compress's, encode's
    # The rerun leaves the JPEGs to their first request: compress's pack still holds the other
    # WebPs until compress writes its new one, so drop_earlier must not delete it on the way.
    services = build_services(replace(every, eager_variants=parse_eager("all,-jpg")))
    attempt = processing.claim_again(services, image_id, untouched_since=time.time() + 1)
    assert attempt is not None
    assert processing.resize(services, image_id, attempt)
    for variant in services.catalog.get(image_id).variants:
        if variant.offset is not None:
            packs.read(services.variants, variant)  # every pack still referred to is there
    for stage in (processing.compress, processing.encode, processing.record):
        assert stage(services, image_id, attempt)
    after = services.catalog.get(image_id)
    assert after.status is Status.READY
    assert after.variant("640.jpg").on_request  # type: ignore[union-attr]
    now = {v.key for v in after.variants if v.offset is not None}
    assert stored_keys(services, image_id) == now  # compress's old pack, JPEGs and all, gone
    assert old_packs - now


def test_a_pack_replaced_under_a_reader_is_read_from_the_new_record_or_made_alone(
    services: Services,
) -> None:
    image_id = processed(services, "raced")
    stale = services.catalog.get(image_id)
    old = stale.variant("640.avif")
    assert old is not None and old.offset is not None
    # As a reprocess leaves it: a new pack recorded, the old one deleted.
    new_key = f"{image_id}/pack-new"
    services.variants.put(new_key, b"x" * 7 + services.variants.get(old.key), content_type="a/b")
    moved = tuple(
        replace(v, key=new_key, offset=v.offset + 7) if v.key == old.key and v.offset else v
        for v in stale.variants
    )
    mutate(services.catalog, image_id, lambda r: r.evolve(variants=moved))
    services.variants.delete(old.key)
    made = render_on_request(services, image_id, "640.avif", record=stale)
    assert not made.rendered
    fresh = services.catalog.get(image_id).variant("640.avif")
    assert fresh is not None and made.data == packs.read(services.variants, fresh)
    services.variants.delete(new_key)  # gone for good: made alone, not a 404
    made = render_on_request(services, image_id, "640.avif", record=stale)
    assert made.rendered
    assert services.variants.get(f"{image_id}/640.avif") == made.data


def test_the_catalog_keeps_a_packs_key_without_the_image_id(services: Services) -> None:
    image_id = processed(services, "dynamo")
    record = services.catalog.get(image_id)
    item = to_item(record)
    keys = [v["M"].get("key", {}).get("S") for v in item["variants"]["L"]]
    assert any(k and k.startswith(packs.PACK_PREFIX) for k in keys)
    assert not any(k and k.startswith(image_id) for k in keys)
    assert from_item(item) == record


def test_the_chain_leaves_record_out_when_no_pyramid_is_stored(tmp_path: Path) -> None:
    stored = make_settings(tmp_path, working_pyramid="stored")
    decoded = replace(stored, working_pyramid="decoded")
    assert processing.chain_stages(stored)[-1] == "record"
    assert processing.chain_stages(decoded) == ("resize", "encode")
    services = build_services(decoded)
    image_id = upload(services, photo("mate_Storm.jpg"))
    attempt = processing.claim(services, image_id)
    for stage in processing.chain_stages(decoded):
        assert getattr(processing, stage)(services, image_id, attempt)
    assert services.catalog.get(image_id).status is Status.READY
