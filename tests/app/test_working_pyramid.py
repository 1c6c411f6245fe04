"""How encode gets the widths resize made: stored and read back, or decoded again
(IMAGEPIPE_WORKING_PYRAMID; docs/capacity.md, lever 2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app import processing, working_pyramid
from app.catalog import Status
from app.services import Services
from app.settings import Settings, SettingsError
from tests.app.test_processing import upload
from tests.conftest import photo


class PutRecorder:
    """The variants store, recording every key put."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.keys: list[str] = []

    def put(self, key: str, data: Any, **kwargs: Any) -> Any:
        self.keys.append(key)
        return self._store.put(key, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _with(services: Services, pyramid: str) -> tuple[Services, PutRecorder]:
    recorder = PutRecorder(services.variants)
    settings = replace(services.settings, working_pyramid=pyramid)
    return replace(services, settings=settings, variants=recorder), recorder  # type: ignore[arg-type]


def _chain(services: Services, image_id: str) -> dict[str, int | None]:
    attempt = processing.claim(services, image_id)
    for stage in processing.chain_stages(services.settings):
        assert getattr(processing, stage)(services, image_id, attempt)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    return {v.name: v.bytes for v in record.variants}


def test_decoded_stores_no_pyramid_and_makes_the_same_variants(services: Services) -> None:
    """Encode decodes the original again: the same pixels, so the same variants, byte for byte,
    with no working file put at all."""
    stored, stored_puts = _with(services, "stored")
    decoded, decoded_puts = _with(services, "decoded")
    as_stored = _chain(stored, upload(services, photo("mate_Storm.jpg"), "img1"))
    as_decoded = _chain(decoded, upload(services, photo("mate_Storm.jpg"), "img2"))
    assert working_pyramid.master_key("img1") in stored_puts.keys
    assert not [k for k in decoded_puts.keys if "_work/" in k]
    assert len(decoded_puts.keys) == len(stored_puts.keys) - 1
    assert as_decoded == as_stored


def test_a_stored_pyramid_gone_before_encode_is_decoded_again(services: Services) -> None:
    """Expired under a long backlog, or a worker set the other way: encode does not fail."""
    image_id = upload(services, photo("mate_Storm.jpg"))
    stored, _ = _with(services, "stored")
    attempt = processing.claim(stored, image_id)
    assert processing.resize(stored, image_id, attempt)
    stored.variants.delete(working_pyramid.master_key(image_id))
    assert processing.encode(stored, image_id, attempt)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    assert {v.format for v in record.variants if not v.on_request} >= {"avif", "webp"}


def test_an_original_gone_before_encode_decodes_it_fails_the_image_with_a_reason(
    services: Services,
) -> None:
    image_id = upload(services, photo("mate_Storm.jpg"))
    decoded, _ = _with(services, "decoded")
    attempt = processing.claim(decoded, image_id)
    assert processing.resize(decoded, image_id, attempt)
    services.originals.delete(image_id)
    assert not processing.encode(decoded, image_id, attempt)
    record = services.catalog.get(image_id)
    assert (record.status, record.failure_reason) == (Status.FAILED, "upload_missing")
    assert {v.name for v in record.variants if not v.on_request} >= {"640.webp"}  # kept


@pytest.mark.parametrize(
    ("variants_url", "value", "stores"),
    [
        ("file://./var/variants", "", True),
        ("s3://bucket/variants", "", False),
        ("s3://bucket/variants", "stored", True),
        ("file://./var/variants", "decoded", False),
    ],
)
def test_the_default_follows_the_variants_store(
    variants_url: str, value: str, stores: bool
) -> None:
    environ = {"IMAGEPIPE_VARIANTS_URL": variants_url, "IMAGEPIPE_WORKING_PYRAMID": value}
    if not variants_url.startswith("file"):
        environ["IMAGEPIPE_SECRET_KEY"] = "a-secret-key-for-the-test-0123"
    assert Settings.from_env(environ).stores_pyramid is stores


def test_an_unknown_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="IMAGEPIPE_WORKING_PYRAMID must be stored or decoded"):
        Settings.from_env({"IMAGEPIPE_WORKING_PYRAMID": "s3"})
