"""The request counter behind docs/capacity.md: one image over moto, every call seen and sized."""

from __future__ import annotations

import math

from bench.bill_of_materials import (
    Bill,
    Bills,
    cost_table,
    first_request_table,
    measure,
    miss_table,
    steadiest,
)
from bench.index_writes import (
    IndexShape,
    all_projected,
    batch_get_read_units,
    index_units,
    item_size,
    listing_read_units,
    query_read_units,
    table_units,
    units,
)
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
    # Every stored object is a PUT this process made and sized: the original and one pack a
    # stage (the first paint; the AVIFs: 9 variants); on S3 no working pyramid.
    puts = calls["s3", "PutObject"]
    assert puts == len(bill.s3_put_bytes) == 1 + 2
    assert all(size > 0 for size in bill.s3_put_bytes)
    assert calls["s3", "DeleteObject"] == 0  # no pyramid to drop, no older pack
    # Each read of the original is one GET: no HeadObject first, as s3transfer's download asks.
    assert calls["s3", "HeadObject"] == 0
    # The ingest process read S3's event from SQS and deleted it.
    assert calls["sqs", "ReceiveMessage"] >= 1 and calls["sqs", "DeleteMessage"] == 1
    # Each catalog write is sized from the item stored, and priced in 1 KB write units.
    writes = calls["dynamodb", "PutItem"] + calls["dynamodb", "UpdateItem"]
    assert writes == len(bill.dynamodb_items) >= 2
    assert all(0 < size < 400 * 1024 for _op, size in bill.dynamodb_items)
    units = bill.as_dict()["dynamodb_write_units"]
    assert units == sum(math.ceil(size / 1024) for _op, size in bill.dynamodb_items)
    # Four writes: pending, the claim, the first variants with the list of those left to first
    # request, ready with AVIF. By default compress has nothing to make, and with no pyramid
    # stored record nothing to drop: neither is in the chain.
    assert bill.tasks == 3  # imagepipe.ingest, resize, encode
    assert writes == 4
    # One strongly consistent read per stage and one for the claim: each stage saves on the
    # version it read at its start. The size read-backs are not counted. Each stage's lease
    # thread reads the record's age once as it starts (app/lease.py).
    assert bill.lease_reads == 2
    assert calls["dynamodb", "GetItem"] == 3 + bill.lease_reads
    # The original twice: resize decodes it, and encode decodes it again.
    assert calls["s3", "GetObject"] == 2
    # The upload's admission: the user's unfinished uploads, then the quota's sizes.
    assert calls["dynamodb", "Query"] == 2
    per_index = bill.index_write_units()
    # by_user copies the keys, status and size: written by the writes that change them (pending,
    # claim, resize's size, ready).
    assert per_index["by_user"] == 4
    # The sparse index, keys only: in while pending/processing; each write moves its sort key
    # (updated_at), a delete and a put of 1 unit each; ready takes the entry out.
    assert per_index["by_open_status"] == 1 + 2 + 2 + 1
    assert bill.write_units_with_indexes == units + 10
    every = bill.index_write_units(all_projected(bill.indexes))
    assert every["by_user"] >= per_index["by_user"] + 3  # ALL copied each variant list


def test_index_write_rules() -> None:
    keys_only = IndexShape(("open_status", "updated_at"), "KEYS_ONLY")
    include = IndexShape(("user_id", "upload_time"), "INCLUDE", ("status",))
    everything = IndexShape(("user_id", "upload_time"), "ALL")
    big = {"L": [{"S": "x" * 100}] * 30}  # ~3 KB of variants
    pending = {"image_id": S("a"), "user_id": S("u"), "upload_time": N("1"), "status": S("p")}
    sparse = {**pending, "open_status": S("p"), "updated_at": N("1")}
    moved = {**sparse, "updated_at": N("2"), "variants": big}
    ready = {k: v for k, v in moved.items() if k != "open_status"} | {"status": S("r")}
    # Into a sparse index: the entry's units; its sort key moved: a delete and a put; out: one.
    assert index_units(None, sparse, keys_only, "image_id") == 1
    assert index_units(sparse, moved, keys_only, "image_id") == 2
    assert index_units(moved, ready, keys_only, "image_id") == 1
    assert index_units(pending, pending, keys_only, "image_id") == 0  # never in it
    # Only a copied attribute changed: one put; nothing copied changed: nothing.
    assert index_units(moved, ready, include, "image_id") == 1
    assert index_units(sparse, moved, include, "image_id") == 0
    # ALL copies the variants too: the entry is the item's size.
    assert index_units(sparse, moved, everything, "image_id") == units(item_size(moved)) == 4
    assert table_units(moved, ready) == units(item_size(moved))  # the larger of the two
    # Reads: a Query's entries summed into 4 KB units, BatchGetItem's each item rounded up;
    # halved when eventually consistent. A listing through a keys-and-status index pays both.
    assert query_read_units([ready] * 5) == math.ceil(5 * item_size(ready) / 4096) / 2
    assert batch_get_read_units([ready] * 5, consistent=True) == 5
    assert listing_read_units(ready, include, "image_id", 20) == 0.5 + 10
    assert listing_read_units(ready, everything, "image_id", 20) == query_read_units([ready] * 20)


def S(value: str) -> dict[str, str]:  # noqa: N802 - DynamoDB's type letters
    return {"S": value}


def N(value: str) -> dict[str, str]:  # noqa: N802
    return {"N": value}


def test_each_lever_is_measured_one_at_a_time() -> None:
    source = photo("mate_Storm.jpg")
    every = measure(source, "all", pack=False)
    lazy = measure(source, first_requests=True, pack=False, with_record=True)
    left = len(lazy.render_cpu_s)
    assert left == 10  # the JPEGs, and the WebPs but the first paint (160-lq, 640)
    # Processing stores that many objects fewer; each first request stores its one.
    assert every.calls["s3", "PutObject"] - lazy.calls["s3", "PutObject"] == left
    assert lazy.render_calls["s3", "PutObject"] == left
    assert lazy.render_calls["dynamodb", "PutItem"] == 0  # no catalog write per render
    assert all(seconds > 0 for seconds in lazy.render_cpu_s.values())
    assert not lazy.miss_cpu_s  # nothing packed: S3 answers CloudFront's miss itself
    stored = measure(source, pyramid="stored", pack=False)
    # The stored pyramid is one PUT more, and encode reads it instead of the original.
    assert stored.calls["s3", "PutObject"] == lazy.calls["s3", "PutObject"] + 1
    assert stored.calls["s3", "GetObject"] == lazy.calls["s3", "GetObject"]
    assert stored.calls["s3", "DeleteObject"] == 1  # record drops it
    packed = measure(source, first_requests=True)
    # The same 9 variants in 2 objects, and record out of the chain: a task and a read fewer.
    assert lazy.calls["s3", "PutObject"] == 1 + 9
    assert packed.calls["s3", "PutObject"] == 1 + 2
    assert packed.tasks == lazy.tasks - 1
    assert packed.calls["dynamodb", "GetItem"] == lazy.calls["dynamodb", "GetItem"] - 2
    # A CloudFront miss of a packed variant: the render origin's catalog read and ranged GET.
    misses = len(packed.miss_cpu_s)
    assert misses == 9
    assert packed.miss_calls["s3", "GetObject"] == packed.miss_calls["dynamodb", "GetItem"] == 9
    assert packed.miss_calls["s3", "PutObject"] == 0
    bills = Bills(every=every, stored=stored, lazy=lazy, lean=lazy, packed=packed)
    table = cost_table(bills, cpu_today=1.4, cpu_now=0.8, redecode=0.25)
    built = next(line for line in table if "made on first request" in line)
    assert f"({stored.calls['s3', 'PutObject']})" in built
    decoded = next(line for line in table if "decoded again" in line)
    assert f"({lazy.calls['s3', 'PutObject']})" in decoded
    in_one = next(line for line in table if "packed object" in line)
    assert "(3)" in in_one
    (cost,) = [line for line in first_request_table(packed) if "First-request cost" in line]
    assert cost.endswith("per 1,000 images")
    (cost,) = [line for line in miss_table(packed) if "Packed-miss cost" in line]
    assert cost.endswith("per 1,000 images")


def test_the_steadiest_of_three_bills_is_the_median_by_chain_cpu() -> None:
    spent = iter([0.9, 0.5, 0.7])
    assert steadiest(lambda: Bill(chain_cpu_s=next(spent))).chain_cpu_s == 0.7
