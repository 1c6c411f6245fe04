"""How DynamoDBCatalog lays a record out: what each write is billed by (docs/capacity.md)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.catalog import ImageRecord, Status, VariantRecord
from app.catalog.dynamodb import DynamoDBCatalog, from_item, to_item
from tests.conftest import moto_catalog


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


def test_a_page_skips_records_the_index_still_lists_and_fills_up_from_later_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The index lags the table: right after erasure deleted a page of records, the index may
    # still list them. A page made only of those must not come back empty while live records
    # follow, or erase_user (which stops at an empty page) would leave them.
    catalog = moto_catalog()
    assert isinstance(catalog, DynamoDBCatalog)
    for i in range(5):
        catalog.add(_record().evolve(image_id=f"img{i}", upload_time=float(i)))
    gone = {"img4", "img3"}  # the two newest: deleted from the table, not yet from the index
    read = catalog._records

    def lagging(ids: Sequence[str], *, consistent: bool) -> list[ImageRecord]:
        return [r for r in read(ids, consistent=consistent) if r.image_id not in gone]

    monkeypatch.setattr(catalog, "_records", lagging)
    page = catalog.list_by_user("u1", limit=2)
    assert [r.image_id for r in page.items] == ["img2", "img1"]
    rest = catalog.list_by_user("u1", limit=2, cursor=page.next_cursor)
    assert [r.image_id for r in rest.items] == ["img0"] and rest.next_cursor is None
