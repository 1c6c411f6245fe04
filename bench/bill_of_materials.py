"""The AWS requests one processed image makes, counted by service and operation (moto, in-process).

    python -m bench.bill_of_materials [PHOTO]

One photo goes through the AWS path in one process against moto's in-process AWS
(`moto.mock_aws`), with resources made by the project's own `app.provision`:

1. the upload request: the API's pending record (`Services.new_record` + `catalog.add`);
2. the browser's presigned POST of the original to S3 (a PUT-class request; made here with
   `put_object`, which S3 bills the same);
3. the ingest process: S3's ObjectCreated event read from SQS, handed to the broker, deleted;
4. the Celery chain's stages, `app.processing.claim/resize/compress/encode/record`, called directly.

Every botocore API call is counted (a wrapper on `BaseClient._make_api_call`), with the bytes of
each S3 PUT and the size of each DynamoDB item written (by DynamoDB's item-size rules, read back
after the write, uncounted). What runs outside this process is counted from the configuration,
not measured, and printed apart: the Celery task messages on SQS (one per task: ingest and the
four stages) and the Celery events on SNS (celeryconfig: `worker_send_task_events` and
`task_send_sent_event`, so sent, received, started and succeeded per task).
docs/capacity.md prices the result.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = "lomiri16_sunset_by_Aitzol_Berasategi.jpg"  # 12.2 MP, as the latency benchmark
TASKS_PER_IMAGE = 5  # imagepipe.ingest, resize, compress, encode, record
EVENTS_PER_TASK = 4  # task-sent, task-received, task-started, task-succeeded


@dataclass
class Bill:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    s3_put_bytes: list[int] = field(default_factory=list)
    dynamodb_items: list[tuple[str, int]] = field(default_factory=list)  # (operation, bytes)
    counting: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": {f"{s} {o}": n for (s, o), n in sorted(self.calls.items())},
            "s3_put_bytes": self.s3_put_bytes,
            "dynamodb_items": self.dynamodb_items,
            "dynamodb_write_units": sum(math.ceil(b / 1024) for _op, b in self.dynamodb_items),
        }


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers ~ digits/2)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    size: int
    if kind == "S":
        size = len(str(inner).encode())
    elif kind == "N":
        digits = len(str(Decimal(inner)).replace("-", "").replace(".", "").lstrip("0")) or 1
        size = math.ceil(digits / 2) + 1
    elif kind in ("BOOL", "NULL"):
        size = 1
    elif kind == "B":
        size = len(inner)
    elif kind == "M":
        size = 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    elif kind == "L":
        size = 3 + sum(_value_size(v) + 1 for v in inner)
    else:
        size = len(json.dumps(inner))  # sets: close enough for a bill
    return size


@contextmanager
def counting(bill: Bill) -> Iterator[None]:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if bill.counting:
            bill.calls[service, operation] += 1
            if operation == "PutObject":
                body = params.get("Body", b"")
                bill.s3_put_bytes.append(len(body) if isinstance(body, bytes) else -1)
        result = original(client, operation, params)
        if bill.counting and operation in ("PutItem", "UpdateItem"):
            bill.counting = False
            try:
                table, key = params["TableName"], _key_of(client, params)
                got = original(client, "GetItem", {"TableName": table, "Key": key})
                bill.dynamodb_items.append((operation, item_size(got.get("Item", {}))))
            finally:
                bill.counting = True
        return result

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def _key_of(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    if "Key" in params:
        return dict(params["Key"])
    table = client.describe_table(TableName=params["TableName"])["Table"]
    names = [k["AttributeName"] for k in table["KeySchema"]]
    return {n: params["Item"][n] for n in names}


def measure(photo: Path) -> Bill:
    from moto import mock_aws

    from app import processing
    from app.aws import AwsLocation, s3_client, split_s3_url
    from app.catalog import Status
    from app.provision import provision
    from app.services import build_services
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
            secret_key="bom-secret-key-0123456789",  # noqa: S106 - a throwaway
            data_dir=tmp,
            aws_region="us-east-1",
            sqs_wait_seconds=0,
        )
        provision(settings, AwsLocation(region="us-east-1"))
        services = build_services(settings)
        sent: list[str] = []
        ingestor = Ingestor.from_settings(settings, send=sent.append)
        for message in ingestor.receive():  # moto's s3:TestEvent, from provisioning
            ingestor.handle(message)
        image_id = "bom0000000000000000000001"
        with counting(bill):
            # 1. The upload request (the API): the pending record.
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
            # 4. The chain: imagepipe.ingest claims, then the four stages.
            assert processing.claim(services, image_id)
            processing.resize(services, image_id)
            processing.compress(services, image_id)
            processing.encode(services, image_id)
            processing.record(services, image_id)
        assert services.catalog.get(image_id).status is Status.READY
    return bill


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
        f"{data['dynamodb_write_units']} write units"
    )
    lines += [
        "counted from the configuration (other processes):",
        f"  Celery task messages: {TASKS_PER_IMAGE} x (SQS SendMessage + ReceiveMessage + "
        "DeleteMessage)",
        f"  Celery events: {TASKS_PER_IMAGE * EVENTS_PER_TASK} SNS Publish, each delivered to "
        "every Flower queue (SQS ReceiveMessage in batches of up to 10, DeleteMessage each)",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))
    from tests.conftest import photo

    path = Path(args[0]) if args else photo(DEFAULT_PHOTO)
    bill = measure(path)
    print(f"{path.name}: one image through the AWS path")
    print("\n".join(report(bill)))
    print(json.dumps(bill.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
