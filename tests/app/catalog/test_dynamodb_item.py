"""How DynamoDBCatalog lays a record out: what each write is billed by (docs/capacity.md)."""

from __future__ import annotations

from app.catalog import ImageRecord, Status, VariantRecord
from app.catalog.dynamodb import from_item, to_item


def _record(*variants: VariantRecord) -> ImageRecord:
    return ImageRecord(
        image_id="img1",
        user_id="u1",
        upload_time=1.5,
        original_url="s3://o/img1",
        original_key="img1",
        content_type="image/jpeg",
        filename="x.jpg",
        status=Status.READY,
        variants=variants,
    )


def test_a_variant_key_derived_from_the_id_and_name_is_not_stored() -> None:
    derived = VariantRecord("640.webp", "webp", 640, 480, 1234, "img1/640.webp", "etag")
    other = VariantRecord("1280.webp", "webp", 1280, 960, 4321, "old/1280.webp", "etag")
    item = to_item(_record(derived, other))
    stored = [v["M"] for v in item["variants"]["L"]]
    assert "key" not in stored[0]  # ~40 bytes a variant, a fifth of a ready record
    assert stored[1]["key"] == {"S": "old/1280.webp"}
    assert from_item(item) == _record(derived, other)


def test_an_item_written_with_every_key_still_reads() -> None:
    # Records written before the key was left out carry it; they read the same.
    derived = VariantRecord("640.webp", "webp", 640, 480, 1234, "img1/640.webp", "etag")
    item = to_item(_record(derived))
    item["variants"]["L"][0]["M"]["key"] = {"S": "img1/640.webp"}
    assert from_item(item) == _record(derived)
