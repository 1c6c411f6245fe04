"""The request counter behind docs/capacity.md: one image over moto, every call seen and sized."""

from __future__ import annotations

import math

from bench.bill_of_materials import cost_table, first_request_table, item_size, measure
from tests.conftest import photo


def test_item_size_follows_dynamodbs_rules() -> None:
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 digits: ceil(5/2) + 1
    assert item_size({"ok": {"BOOL": True}, "x": {"NULL": True}}) == 2 + 1 + 1 + 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"l": {"L": [{"S": "ab"}, {"S": "c"}]}}) == 1 + 3 + (2 + 1) + (1 + 1)


def test_one_image_through_the_aws_path_is_counted_by_service_and_operation() -> None:
    bill = measure(photo("mate_Storm.jpg"))
    calls = bill.calls
    # Every stored object is a PUT this process made and sized: the original, the working
    # pyramid and each variant; the pyramid is deleted at the end.
    puts = calls["s3", "PutObject"]
    assert puts == len(bill.s3_put_bytes) >= 2 + 9
    assert all(size > 0 for size in bill.s3_put_bytes)
    assert calls["s3", "DeleteObject"] >= 1
    # The ingest process read S3's event from SQS and deleted it.
    assert calls["sqs", "ReceiveMessage"] >= 1 and calls["sqs", "DeleteMessage"] == 1
    # Each catalog write is sized from the item stored, and priced in 1 KB write units.
    writes = calls["dynamodb", "PutItem"] + calls["dynamodb", "UpdateItem"]
    assert writes == len(bill.dynamodb_items) >= 2
    assert all(0 < size < 400 * 1024 for _op, size in bill.dynamodb_items)
    units = bill.as_dict()["dynamodb_write_units"]
    assert units == sum(math.ceil(size / 1024) for _op, size in bill.dynamodb_items)
    # The by_user index holds every item; the sparse one only unfinished records.
    assert bill.sparse_index_items[0] and not bill.sparse_index_items[-1]
    assert 2 * units < bill.write_units_with_indexes < 3 * units + 2
    # The item-size read-backs are not counted as the image's reads.
    assert calls["dynamodb", "GetItem"] < 4 * writes


def test_variants_left_to_first_requests_cost_their_put_then() -> None:
    every = measure(photo("mate_Storm.jpg"), "all")
    lazy = measure(photo("mate_Storm.jpg"), first_requests=True)
    left = len(lazy.render_cpu_s)
    assert left == 7  # the standard JPEGs, 160-lq.jpg, 640-lq.jpg and 640-lq.webp
    # Processing stores that many objects fewer; each first request stores its one.
    assert every.calls["s3", "PutObject"] - lazy.calls["s3", "PutObject"] == left
    assert lazy.render_calls["s3", "PutObject"] == left
    assert lazy.render_calls["dynamodb", "PutItem"] == 0  # no catalog write per render
    assert all(seconds > 0 for seconds in lazy.render_cpu_s.values())
    table = cost_table(every, lazy, 1.4, 0.8)
    built = next(line for line in table if "made on first request" in line)
    assert f"({lazy.calls['s3', 'PutObject']})" in built
    (cost,) = [line for line in first_request_table(lazy) if "First-request cost" in line]
    assert cost.endswith("per 1,000 images")
