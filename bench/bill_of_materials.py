"""The AWS requests one processed image makes, counted by service and operation (moto, in-process).

    python -m bench.bill_of_materials [PHOTO] [--eager all]

One photo goes through the AWS path in one process against moto's in-process AWS
(`moto.mock_aws`), with resources made by the project's own `app.ops.provision`:

1. the upload request: the API's admission reads (`Services.unfinished_uploads`, `check_quota`) and
   its pending record (`Services.new_record` + `catalog.add`);
2. the browser's presigned POST of the original to S3 (a PUT-class request; made here with
   `put_object`, which S3 bills the same);
3. the ingest process: S3's ObjectCreated event read from SQS, handed to the broker, deleted;
4. `app.processing.claim`, then the chain's stages (`app.processing.chain_stages`: resize and
   encode by default on S3, record too where the pyramid is stored, compress too when it has
   variants to make), called directly, each inside its lease (`app.lease.held`), as the Celery
   task runs it.

Every botocore API call is counted (a wrapper on `BaseClient._make_api_call`), with the bytes of
each S3 PUT and the size of each DynamoDB item written (by DynamoDB's item-size rules, read back
after the write, uncounted). What runs outside this process is counted from the configuration,
not measured, and printed apart: the Celery task messages on SQS (one per task: ingest and the
chain's stages) and the Celery events on SNS (celeryconfig: `worker_send_task_events` and
`task_send_sent_event`, so sent, received, started and succeeded per task). The end-to-end test
`tests/e2e/test_aws.py::test_one_photo_bills_what_the_bill_of_materials_counts` checks both
against the real processes. docs/capacity.md prices the result.

The variants processing makes up front are IMAGEPIPE_EAGER_VARIANTS's (``--eager``; the default is
the setting's, ``all`` counts every variant made by processing). The cost table measures one bill
for each design built (`Bills`), side by side, and then the first request of each variant left
out and a CloudFront miss of each packed one: the API's ``app.rendering.render_on_request``
(CloudFront's failover origin), its requests counted the same way and its CPU (this process and
its forked children) timed, priced on bench.network's view pattern (the one delivery's cost
table uses).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from bench.index_writes import (
    IndexShape,
    all_projected,
    index_entry,
    item_size,
    listing_read_units,
    query_read_units,
    sequence_units,
    shapes_of,
)
from bench.network import VIEWS_FIRST_YEAR, view_shares

if TYPE_CHECKING:
    from app.catalog import ImageRecord
    from app.services import Services

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = "lomiri16_sunset_by_Aitzol_Berasategi.jpg"  # 12.2 MP, as the latency benchmark
TABLE_KEY = "image_id"
BY_USER = "by_user"  # app/names.py
TASK_EVENTS = ("task-sent", "task-received", "task-started", "task-succeeded")  # celeryconfig
EVENTS_PER_TASK = len(TASK_EVENTS)
# An index Query of a user with few images reads under 4 KB: half a read unit, as it is always
# eventually consistent (bench/index_writes.py query_read_units).
SMALL_QUERY_RRU = 0.5


@dataclass
class Bill:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    s3_put_bytes: list[int] = field(default_factory=list)
    dynamodb_items: list[tuple[str, int]] = field(default_factory=list)  # (operation, bytes)
    stored_items: list[dict[str, Any]] = field(default_factory=list)  # the item after each write
    indexes: dict[str, IndexShape] = field(default_factory=dict)  # as provisioned
    # The first requests of the variants processing left out (app/rendering.py), apart.
    render_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    render_cpu_s: dict[str, float] = field(default_factory=dict)
    # CloudFront misses of packed variants, each a range read by the render origin, apart.
    miss_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    miss_cpu_s: dict[str, float] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)  # every variant the ready record lists
    lease_reads: int = 0  # GetItems made by the stages' lease threads (app/lease.py)
    chain_cpu_s: float = 0.0  # the claim and the stages, in this process (not its children)
    tasks: int = 0  # Celery tasks an image: imagepipe.ingest and the chain's stages

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": {f"{s} {o}": n for (s, o), n in sorted(self.calls.items())},
            "s3_put_bytes": self.s3_put_bytes,
            "dynamodb_items": self.dynamodb_items,
            "dynamodb_write_units": self.table_write_units,
            "dynamodb_index_write_units": self.index_write_units(),
            "dynamodb_write_units_with_indexes": self.write_units_with_indexes,
            "chain_cpu_s": round(self.chain_cpu_s, 3),
            "tasks": self.tasks,
        }

    @property
    def table_write_units(self) -> int:
        return sequence_units(self.stored_items, {}, TABLE_KEY)[0]

    def index_write_units(self, shapes: dict[str, IndexShape] | None = None) -> dict[str, int]:
        """Each index's units for the measured writes (bench/index_writes.py has the rules)."""
        indexes = self.indexes if shapes is None else shapes
        return sequence_units(self.stored_items, indexes, TABLE_KEY)[1]

    @property
    def write_units_with_indexes(self) -> int:
        return self.table_write_units + sum(self.index_write_units().values())


_lock = threading.Lock()  # stages make calls from more than one thread


@contextmanager
def counting(bill: Bill) -> Iterator[None]:
    from botocore.client import BaseClient

    from app.lease import THREAD_PREFIX

    # Every client call goes through this private method, which botocore-stubs leave out.
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        with _lock:
            bill.calls[service, operation] += 1
            lease_thread = threading.current_thread().name.startswith(THREAD_PREFIX)
            if operation == "GetItem" and lease_thread:
                bill.lease_reads += 1
            if operation == "PutObject":
                body = params.get("Body", b"")
                bill.s3_put_bytes.append(len(body) if isinstance(body, bytes) else -1)
        result = original(client, operation, params)
        if operation in ("PutItem", "UpdateItem"):
            # Read what was written straight through `original`: not counted, and a call another
            # thread makes meanwhile (the resize stage stores its pyramid beside its catalog
            # write) still is.
            table, key = params["TableName"], _key_of(client, params, original)
            got = original(client, "GetItem", {"TableName": table, "Key": key})
            stored = got.get("Item", {})
            with _lock:
                bill.dynamodb_items.append((operation, item_size(stored)))
                bill.stored_items.append(stored)
            if not bill.indexes:
                described = original(client, "DescribeTable", {"TableName": table})
                bill.indexes = shapes_of(described["Table"])
        return result

    with patch.object(BaseClient, "_make_api_call", counted):
        yield


def _key_of(client: Any, params: dict[str, Any], uncounted: Any) -> dict[str, Any]:
    if "Key" in params:
        return dict(params["Key"])
    # The bench's own lookup, not the platform's: made through the uncounted original.
    table = uncounted(client, "DescribeTable", {"TableName": params["TableName"]})["Table"]
    names = [k["AttributeName"] for k in table["KeySchema"]]
    return {n: params["Item"][n] for n in names}


def measure(
    photo: Path,
    eager: str | None = None,
    *,
    first_requests: bool = False,
    pyramid: str = "",
    pack: bool = True,
    with_record: bool = False,
) -> Bill:
    """One image's bill; with ``first_requests``, each left-out variant's first request too,
    and a CloudFront miss of each packed variant (the render origin reading its range).

    ``pyramid`` is IMAGEPIPE_WORKING_PYRAMID (empty: its default on S3, decoded again),
    ``pack`` IMAGEPIPE_PACK_VARIANTS; ``with_record`` keeps `record` in a chain that leaves it
    out (as every chain ran it before 2026-12-01)."""
    from moto import mock_aws

    from app import lease, processing
    from app.api.limits import check_quota
    from app.aws import AwsLocation, s3_client, split_s3_url
    from app.catalog import Status
    from app.eager import EAGER_DEFAULT, parse_eager
    from app.ops.provision import provision
    from app.services import build_services
    from app.setting_types import Secret
    from app.settings import Settings
    from tasks.ingest import Ingestor

    bill = Bill()
    with mock_aws(), tempfile.TemporaryDirectory(prefix="imagepipe-bom-") as tmp:
        settings = Settings(
            originals_url="s3://bom-originals/originals",
            variants_url="s3://bom-variants/variants",
            catalog_url="dynamodb://bom-images",
            broker_url="sqs://",
            public_base_url="https://img.example.com",
            secret_key=Secret("bom-secret-key-0123456789"),  # a throwaway
            data_dir=tmp,
            aws_region="us-east-1",
            sqs_wait_seconds=0,
            eager_variants=parse_eager(eager) if eager else EAGER_DEFAULT,
            working_pyramid=pyramid,
            pack_variants=pack,
            # No renewal however slow the machine: one is a read and a write, after a stage
            # has run a third of a lease (30 s by default), so its count would follow the load.
            lease_seconds=3600,
        )
        provision(settings, AwsLocation(region="us-east-1"))
        services = build_services(settings)
        sent: list[str] = []
        ingestor = Ingestor.from_settings(settings, send=sent.append)
        for message in ingestor.receive():  # moto's s3:TestEvent, from provisioning
            ingestor.handle(message)
        image_id = "bom0000000000000000000001"
        with counting(bill):
            # 1. The upload request (the API, app/api/uploads.py): its admission reads (the
            #    user's unfinished uploads; the quota's sizes), then the pending record.
            services.unfinished_uploads("alice")
            check_quota(services, "alice", photo.stat().st_size)
            services.catalog.add(services.new_record(image_id, "alice", "image/jpeg", photo.name))
            # 2. The browser's presigned POST of the original.
            bucket, prefix = split_s3_url(settings.originals_url)
            s3_client(AwsLocation(region="us-east-1")).put_object(
                Bucket=bucket, Key=f"{prefix}/{image_id}", Body=photo.read_bytes()
            )
            # 3. The ingest process.
            for message in ingestor.receive():
                ingestor.handle(message)
            assert sent, "the ObjectCreated event did not reach the ingest process"
            # 4. The chain: imagepipe.ingest claims, then the chain's stages.
            # This process's CPU only: the encodes a default leaves out (WebP, JPEG) run here.
            # The decode and AVIF children do the same work whatever the default, and a warm
            # child's CPU is counted only when it is reaped, which may be in another chain.
            chain_started = time.process_time()
            #    Each stage holds its lease as the Celery task does (tasks/pipeline.py).
            attempt = processing.claim(services, image_id)
            assert attempt is not None
            stages = processing.chain_stages(settings)
            if with_record and "record" not in stages:
                stages = (*stages, "record")
            for stage in stages:
                with lease.held(services, image_id, attempt):
                    getattr(processing, stage)(services, image_id, attempt)
            bill.tasks = 1 + len(stages)
            bill.chain_cpu_s = time.process_time() - chain_started
        record = services.catalog.get(image_id)
        assert record.status is Status.READY
        bill.variants = [v.name for v in record.variants]
        if first_requests:
            _first_requests(services, record, bill)
    return bill


def steadiest(bill_of: Callable[[], Bill], runs: int = 3) -> Bill:
    """Of ``runs`` measurements of one design, the bill whose chain CPU is the median (the
    counts are the same in every run)."""
    bills = sorted((bill_of() for _ in range(runs)), key=lambda b: b.chain_cpu_s)
    return bills[len(bills) // 2]


def _first_requests(services: Services, record: ImageRecord, bill: Bill) -> None:
    """Each variant left to its first request, rendered; each packed one, read as a CloudFront
    miss makes the render origin read it (app/rendering.py), counted into ``bill`` apart."""
    lazy = [v.name for v in record.variants if v.on_request]
    packed = [v.name for v in record.variants if v.offset is not None]
    _requested(services, record.image_id, lazy, bill.render_calls, bill.render_cpu_s, rendered=True)
    _requested(services, record.image_id, packed, bill.miss_calls, bill.miss_cpu_s, rendered=False)


def _requested(
    services: Services,
    image_id: str,
    names: list[str],
    calls: Counter[tuple[str, str]],
    cpu_s: dict[str, float],
    *,
    rendered: bool,
) -> None:
    """Each of ``names`` asked of the render origin: its calls into ``calls``, its CPU-s into
    ``cpu_s``; each must be rendered, or read as stored, as ``rendered`` says."""
    from app.rendering import render_on_request

    for name in names:
        counted = Bill()
        start = _cpu_seconds()
        with counting(counted):
            assert render_on_request(services, image_id, name).rendered is rendered
        cpu_s[name] = _cpu_seconds() - start
        calls.update(counted.calls)


def redecode_cpu(photo: Path, runs: int = 3) -> float:
    """CPU-s of a second decode of ``photo`` (the sandboxed decode and the resize to every
    width, as encode runs it when the pyramid is not stored): the median of ``runs``."""
    from app import working_pyramid
    from app.imaging import sandbox
    from app.imaging.limits import Limits

    spent = []
    for _ in range(runs):
        start = _cpu_seconds()
        working_pyramid.of(sandbox.load_master(photo, Limits()))
        spent.append(_cpu_seconds() - start)
    return sorted(spent)[len(spent) // 2]


def _cpu_seconds() -> float:
    """This process's CPU and its waited-for children's (the decode and SVT-AV1 children)."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


# Public list prices, us-east-1, as cited in docs/capacity.md (USD).
PRICES = {
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST (Standard and Intelligent-Tiering)
    "s3_get": 0.0004 / 1000,  # GET, HEAD
    "dynamodb_wru": 0.625 / 1_000_000,  # on-demand write request unit (1 KB)
    "dynamodb_rru": 0.125 / 1_000_000,  # on-demand read request unit (4 KB, strongly consistent)
    "sqs": 0.40 / 1_000_000,  # standard queue request (64 KB chunk)
    "sns": 0.50 / 1_000_000,  # standard topic publish; deliveries to SQS are free
    "vcpu_s": 0.01240 / 3600,  # Fargate Spot vCPU (x86), with 2 GB per vCPU below
    "gb_s": 0.00136 / 3600,
}
FARGATE_EFFICIENCY = 0.85  # share of a worker process's time on CPU (the rest waits on S3)
AUTOSCALING_OVERHEAD = 1.5  # tasks run / tasks needed over a day (bench/simulate_scale.py)


@dataclass(frozen=True)
class Design:
    """What one image costs in billed requests, beyond what the measured bill holds."""

    name: str
    cpu_s: float
    tasks: int | None = None  # None: as measured (ingest and the chain's stages)
    events: bool = True
    flower_queues: int = 1
    puts_saved: int = 0
    gets_saved: int = 0
    writes: int | None = None  # None: as measured
    write_units: int | None = None
    extra_reads: int = 0


def billed(bill: Bill, design: Design) -> dict[str, float]:
    """Billed units per image: S3 requests, DynamoDB units, SQS and SNS requests, CPU seconds."""
    calls = bill.calls
    reads = calls["dynamodb", "GetItem"] + SMALL_QUERY_RRU * calls["dynamodb", "Query"]
    wru = bill.write_units_with_indexes if design.write_units is None else design.write_units
    tasks = bill.tasks if design.tasks is None else design.tasks
    events = tasks * EVENTS_PER_TASK if design.events else 0
    sqs_measured = sum(n for (svc, _op), n in calls.items() if svc == "sqs")
    return {
        "s3_put": calls["s3", "PutObject"] - design.puts_saved,
        "s3_get": calls["s3", "GetObject"] + calls["s3", "HeadObject"] - design.gets_saved,
        "dynamodb_wru": wru,
        "dynamodb_rru": reads + design.extra_reads,
        # S3's event message, the ingest process's receive + delete, then per Celery task a
        # send, a receive and a delete; per event, Flower's delete and a tenth of a receive.
        "sqs": 1 + sqs_measured + 3 * tasks + events * design.flower_queues * 1.1,
        "sns": events,
        "vcpu_s": design.cpu_s / FARGATE_EFFICIENCY * AUTOSCALING_OVERHEAD,
        "gb_s": 2 * design.cpu_s / FARGATE_EFFICIENCY * AUTOSCALING_OVERHEAD,
    }


def cost_per_1000(units: dict[str, float]) -> dict[str, float]:
    return {k: 1000 * v * PRICES[k] for k, v in units.items()}


def report(bill: Bill) -> list[str]:
    data = bill.as_dict()
    lines = ["measured (this process, botocore calls):"]
    lines += [f"  {name}: {n}" for name, n in data["calls"].items()]
    lines.append(
        f"  S3 PUT bytes: {sum(bill.s3_put_bytes):,} in {len(bill.s3_put_bytes)} objects "
        f"(largest {max(bill.s3_put_bytes, default=0):,})"
    )
    sizes = [b for _op, b in bill.dynamodb_items]
    lines.append(
        f"  DynamoDB writes: {len(sizes)}, item sizes {sizes} bytes, "
        f"{data['dynamodb_write_units']} write units on the table, "
        f"{data['dynamodb_write_units_with_indexes']} with its indexes"
    )
    lines.append(f"  DynamoDB index write units: {data['dynamodb_index_write_units']}")
    lines += listing_reads(bill)
    lines += [
        "counted from the configuration (other processes; checked by tests/e2e/test_aws.py):",
        f"  Celery task messages: {bill.tasks} x (SQS SendMessage + ReceiveMessage + "
        "DeleteMessage)",
        f"  Celery events: at most {bill.tasks * EVENTS_PER_TASK} SNS Publish, each "
        "delivered to every Flower queue (SQS ReceiveMessage in batches of up to 10, "
        "DeleteMessage each)",
    ]
    return lines


def listing_reads(bill: Bill, page: int = 20) -> list[str]:
    """What reading the ready record back costs through by_user, as provisioned and with ALL."""
    if not bill.stored_items or BY_USER not in bill.indexes:
        return []
    ready, shape = bill.stored_items[-1], bill.indexes[BY_USER]
    every, as_before = all_projected(bill.indexes)[BY_USER], _with_keys(ready)
    entry = index_entry(ready, shape, TABLE_KEY) or {}
    usage_per_1000 = query_read_units([entry] * 1000)
    usage_all = query_read_units([as_before] * 1000)
    return [
        f"  reads (DynamoDB's rules on these sizes; the ready item {item_size(ready):,} bytes, "
        f"its by_user entry {item_size(entry)} bytes):",
        f"    GET /images, a page of {page}: {listing_read_units(ready, shape, TABLE_KEY, page)} "
        f"RRU ({listing_read_units(as_before, every, TABLE_KEY, page)} before: by_user ALL)",
        f"    the quota's usage, per 1,000 images held: {usage_per_1000} RRU ({usage_all} "
        "before: list_by_user, by_user ALL)",
    ]


def left_out_cpu(every: Bill, lazy: Bill) -> float:
    """CPU-s an image processing saves by leaving variants to their first request: the chain's
    CPU in this process with every variant against with the default, on the same photo.

    Only encodes made in this process count (WebP, JPEG): an eager set that leaves out an AVIF,
    which is encoded in a child, would show its saving as none."""
    return max(0.0, every.chain_cpu_s - lazy.chain_cpu_s)


@dataclass(frozen=True)
class Bills:
    """The bills `main` measures, one a design built, each adding one lever to the one before.

    ``every``: every variant made by processing, the pyramid stored, one object a variant;
    ``stored``: the default IMAGEPIPE_EAGER_VARIANTS (the rest made on first request, priced
    apart); ``lazy``: the pyramid decoded again by encode, `record` still in the chain;
    ``lean``: `record` left out; ``packed``: as the stack runs it, a stage's variants in one
    object (IMAGEPIPE_PACK_VARIANTS).
    """

    every: Bill
    stored: Bill
    lazy: Bill
    lean: Bill
    packed: Bill


def designs(
    bills: Bills, *, cpu_today: float, cpu_now: float, redecode: float
) -> list[tuple[Bill, Design]]:
    """Before issue 12, each lever built, then each not built (docs/capacity.md); the second
    decode costs ``redecode`` CPU-s."""
    every, stored, lazy, lean, packed = (
        bills.every,
        bills.stored,
        bills.lazy,
        bills.lean,
        bills.packed,
    )
    # The rows before counted the chain's reads only; the lease's and the upload's are the same
    # in every row.
    reads = every.calls["dynamodb", "GetItem"] - every.lease_reads
    all_projected_shapes = all_projected(every.indexes)
    # The records as main wrote them before the projections: every variant's store key in full.
    before = [_with_keys(i) for i in every.stored_items]
    # Before issue 12, encode's write kept the item processing (still in the sparse index) and
    # `record` wrote it ready once more; 10 strongly consistent reads (measured then).
    six_writes = [*before[:-1], _still_processing(before[-1]), before[-1]]
    # The floor that keeps the first-variant target: pending, the first usable variants (with
    # the claim), ready with every variant.
    items = packed.stored_items
    three_writes = [items[0], items[2], items[-1]] if len(items) >= 3 else items
    cpu_lazy = cpu_now - left_out_cpu(every, stored)
    # Encode's read of the original, which one task from resize to encode would not need.
    second_gets = packed.calls["s3", "GetObject"] - 1
    return [
        (
            every,
            Design(
                "before issue 12 (libaom, WebP m4, six writes, events on)",
                cpu_today,
                write_units=_units(six_writes, all_projected_shapes),
                extra_reads=10 - reads,
            ),
        ),
        (
            every,
            Design(
                "main before the index projections (five writes, indexes ALL, 8 reads; stack)",
                cpu_now,
                events=False,
                write_units=_units(before, all_projected_shapes),
                extra_reads=8 - reads,
            ),
        ),
        (
            every,
            Design("every variant made by processing, Celery events on (a local run)", cpu_now),
        ),
        (
            every,
            Design(
                "every variant made by processing, on the stack (taskEvents false)",
                cpu_now,
                events=False,
            ),
        ),
        (
            stored,
            Design(
                "+ rarely served variants made on first request (IMAGEPIPE_EAGER_VARIANTS's "
                "default; built)",
                cpu_lazy,
                events=False,
            ),
        ),
        (
            lazy,
            Design(
                "+ the pyramid decoded again by encode, not stored on S3 "
                "(IMAGEPIPE_WORKING_PYRAMID's default there; built)",
                cpu_lazy + redecode,
                events=False,
            ),
        ),
        (
            lean,
            Design(
                "+ `record` left out of the chain when no pyramid is stored (built)",
                cpu_lazy + redecode,
                events=False,
            ),
        ),
        (
            packed,
            Design(
                "**+ a stage's variants in one packed object** (IMAGEPIPE_PACK_VARIANTS; built)",
                cpu_lazy + redecode,
                events=False,
            ),
        ),
        (
            packed,
            Design(
                "+ one task from resize to encode (no second decode; not built)",
                cpu_lazy,
                tasks=packed.tasks - 1,
                events=False,
                gets_saved=second_gets,
            ),
        ),
        (
            packed,
            Design(
                "+ three catalog writes (pending; first variants; ready with every variant; "
                "not built)",
                cpu_lazy,
                tasks=packed.tasks - 1,
                events=False,
                gets_saved=second_gets,
                write_units=_units(three_writes, packed.indexes),
            ),
        ),
    ]


def _units(items: list[dict[str, Any]], shapes: dict[str, IndexShape]) -> int:
    table, per_index = sequence_units(items, shapes, TABLE_KEY)
    return table + sum(per_index.values())


def _with_keys(item: dict[str, Any]) -> dict[str, Any]:
    """The item with each variant's derived store key written out (app/catalog/dynamodb.py)."""
    image_id = item[TABLE_KEY]["S"]
    variants = [
        {"M": {**v["M"], "key": {"S": f"{image_id}/{v['M']['name']['S']}"}} | v["M"]}
        for v in item.get("variants", {}).get("L", [])
    ]
    return {**item, "variants": {"L": variants}} if variants else item


def _still_processing(item: dict[str, Any]) -> dict[str, Any]:
    unfinished = {k: v for k, v in item.items() if k != "processed_url"}
    unfinished["status"] = unfinished["open_status"] = {"S": "processing"}
    return unfinished


def cost_table(bills: Bills, *, cpu_today: float, cpu_now: float, redecode: float) -> list[str]:
    """The cost of each design in `designs` (the same arguments) per 1,000 images."""
    kinds = list(PRICES)
    lines = [
        "| design | S3 PUT | S3 GET | DynamoDB | SQS | SNS | compute | total per 1,000 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bill, design in designs(bills, cpu_today=cpu_today, cpu_now=cpu_now, redecode=redecode):
        units = billed(bill, design)
        cost = cost_per_1000(units)
        by = {k: cost[k] for k in kinds}
        lines.append(
            f"| {design.name} | ${by['s3_put']:.4f} ({units['s3_put']:.0f}) "
            f"| ${by['s3_get']:.4f} ({units['s3_get']:.0f}) "
            f"| ${by['dynamodb_wru'] + by['dynamodb_rru']:.4f} "
            f"({units['dynamodb_wru']:.0f} WRU, {units['dynamodb_rru']:.0f} RRU) "
            f"| ${by['sqs']:.4f} ({units['sqs']:.0f}) | ${by['sns']:.4f} ({units['sns']:.0f}) "
            f"| ${by['vcpu_s'] + by['gb_s']:.4f} | **${sum(cost.values()):.3f}** |"
        )
    return lines


# The API runs on Fargate on demand (not Spot): a render is priced at that, 2 GB per vCPU.
ON_DEMAND = {"vcpu_s": 0.04048 / 3600, "gb_s": 0.004445 / 3600}


def first_request_table(lazy: Bill) -> list[str]:
    """What a first request costs, and how many an image gets in its first year of views."""
    if not lazy.render_cpu_s:
        return []
    n = len(lazy.render_cpu_s)
    calls = lazy.render_calls
    per = {
        "s3_put": calls["s3", "PutObject"] / n,
        # The variants bucket's 403/404 before the failover is a GET too.
        "s3_get": (calls["s3", "GetObject"] + calls["s3", "HeadObject"]) / n + 1,
        "dynamodb_rru": calls["dynamodb", "GetItem"] / n,
    }
    cpu = sum(lazy.render_cpu_s.values()) / n
    requests = sum(per[k] * PRICES[k] for k in per)
    compute = cpu * (ON_DEMAND["vcpu_s"] + 2 * ON_DEMAND["gb_s"])
    # A variant is made at most once, on the first of the image's views it is served.
    shares = view_shares(lazy.variants)
    chance = {
        name: 1 - (1 - shares.get(name, 0.0)) ** VIEWS_FIRST_YEAR for name in lazy.render_cpu_s
    }
    renders = sum(chance.values())
    lines = [
        "| variant | CPU-s | share of views | chance of a first request in the first year "
        f"({VIEWS_FIRST_YEAR} views) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {seconds:.3f} | {shares.get(name, 0.0):.2%} | {chance[name]:.3f} |"
        for name, seconds in lazy.render_cpu_s.items()
    ]
    lines.append(
        f"per first request: {per['s3_put']:.0f} PUT, {per['s3_get']:.0f} GET/HEAD (the bucket's "
        f"miss included), {per['dynamodb_rru']:.0f} catalog read, {cpu:.3f} CPU-s: "
        f"${1000 * (requests + compute):.4f} per 1,000 first requests"
    )
    lines.append(
        f"first requests per image in its first year: {renders:.2f}; "
        f"First-request cost: ${1000 * renders * (requests + compute):.4f} per 1,000 images"
    )
    return lines


MISS_RATIO = 0.1  # views of a variant CloudFront answers from neither edge nor regional cache


def miss_table(packed: Bill, miss_ratio: float = MISS_RATIO) -> list[str]:
    """What a CloudFront miss of a packed variant costs over one of a variant stored alone
    (which S3 answers, one GET), and how many an image gets in its first year of views."""
    if not packed.miss_cpu_s:
        return []
    n = len(packed.miss_cpu_s)
    calls = packed.miss_calls
    # The bucket's 403/404 before the failover, then the render origin: its catalog read and
    # ranged GET. Stored alone, the bucket's GET is all.
    gets = (calls["s3", "GetObject"] + calls["s3", "HeadObject"]) / n + 1
    reads = calls["dynamodb", "GetItem"] / n
    cpu = sum(packed.miss_cpu_s.values()) / n
    extra = (gets - 1) * PRICES["s3_get"] + reads * PRICES["dynamodb_rru"]
    extra += cpu * (ON_DEMAND["vcpu_s"] + 2 * ON_DEMAND["gb_s"])
    shares = view_shares(packed.variants)
    share = sum(shares.get(name, 0.0) for name in packed.miss_cpu_s)
    misses = VIEWS_FIRST_YEAR * share * miss_ratio
    return [
        f"a CloudFront miss of a packed variant ({n} measured): {gets:.0f} S3 GET (the bucket's "
        f"miss included; {calls['s3', 'PutObject'] / n:.0f} PUT), {reads:.0f} catalog read, "
        f"{1000 * cpu:.1f} ms CPU in the API: ${1000 * extra:.5f} per 1,000 misses more than "
        "one of a variant stored alone",
        f"packed variants' share of views: {share:.1%}; at a miss ratio of {miss_ratio:.0%}, "
        f"{misses:.2f} misses an image in its first year ({VIEWS_FIRST_YEAR} views): "
        f"Packed-miss cost: ${1000 * misses * extra:.4f} per 1,000 images",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bill_of_materials", description=__doc__)
    parser.add_argument("photo", nargs="?", type=Path, default=None)
    parser.add_argument("--cpu-today", type=float, default=1.22, help="CPU-s/image before")
    parser.add_argument("--cpu-now", type=float, default=0.5, help="CPU-s/image, this branch")
    parser.add_argument(
        "--eager", default=None, help="IMAGEPIPE_EAGER_VARIANTS for the lazy bill (its default)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.conftest import photo

    path = args.photo or photo(DEFAULT_PHOTO)
    measure(path, "all")  # a warm-up: the first chain in a process pays its imports and caches
    bills = Bills(
        # The CPU the variants left to first request take off is the difference of these two
        # chains' CPU, which moves by ~0.1 CPU-s from one run to the next: the median of 3 each.
        every=steadiest(lambda: measure(path, "all", pyramid="stored", pack=False)),
        stored=steadiest(lambda: measure(path, args.eager, pyramid="stored", pack=False)),
        lazy=measure(path, args.eager, pack=False, with_record=True),
        lean=measure(path, args.eager, pack=False),
        packed=measure(path, args.eager, first_requests=True),
    )
    redecode = redecode_cpu(path)
    for label, bill in (
        ("every variant by processing, the pyramid stored", bills.every),
        ("eager default, the pyramid stored", bills.stored),
        ("eager default, the pyramid decoded again, record in the chain", bills.lazy),
        ("eager default, the pyramid decoded again, record left out", bills.lean),
        ("as the stack runs it: the variants packed", bills.packed),
    ):
        print(f"{path.name}: one image through the AWS path ({label})")
        print("\n".join(report(bill)))
        print(json.dumps(bill.as_dict()))
    print(
        "processing CPU left to first requests: "
        f"{left_out_cpu(bills.every, bills.stored):.3f} CPU-s an image (the chain in this "
        f"process: {bills.every.chain_cpu_s:.3f} with every variant, "
        f"{bills.stored.chain_cpu_s:.3f} with {args.eager or 'the default'}); the second "
        f"decode: {redecode:.3f} CPU-s (median of 3)"
    )
    costs = cost_table(bills, cpu_today=args.cpu_today, cpu_now=args.cpu_now, redecode=redecode)
    print("\n".join(costs))
    print("\n".join(first_request_table(bills.packed)))
    print("\n".join(miss_table(bills.packed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
