"""The AWS path end to end over real HTTP, against moto's server: S3, SQS, SNS and DynamoDB.

The API (gunicorn), the ingest process, a Celery worker and Flower run as separate processes,
configured only by environment URLs (s3://, sqs://, dynamodb://, AWS_ENDPOINT_URL) and dummy
credentials. The resources are made by the project's own set-up code (`imagepipe provision`).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
import requests
from PIL import Image

import bench.bill_of_materials as bom
from app.aws import AwsLocation, dynamodb_client, s3_client, sqs_client
from app.packs import PACK_PREFIX
from tests.conftest import jpeg_bytes, photo
from tests.e2e.aws_tally import Call, RequestTally, by_operation
from tests.e2e.browser import RECORD_CSP_VIOLATIONS, chromium
from tests.e2e.processes import (
    ROOT,
    aws_env,
    flower,
    free_port,
    ingest,
    moto_server,
    presigned_upload,
    python,
    run_python,
    wait_for,
    web,
    worker,
)

pytestmark = pytest.mark.e2e

ORIGINALS_BUCKET, ORIGINALS_PREFIX = "e2e-originals", "originals"
VARIANTS_BUCKET, VARIANTS_PREFIX = "e2e-variants", "variants"
TABLE = "e2e-images"
UA_APP_ID = "AWS_SDK_UA_APP_ID"
# The default chain on S3 (processing.chain_stages): compress only runs when
# IMAGEPIPE_EAGER_VARIANTS makes a WebP or JPEG past the first paint up front, and record only
# when resize stores the pyramid (IMAGEPIPE_WORKING_PYRAMID), which it does not on S3.
STAGES = ("ingest", "resize", "encode")


@dataclass
class AwsPlatform:
    base: str
    flower: str
    token: str
    env: dict[str, str]
    logs: Path
    stack: ExitStack
    worker: subprocess.Popen[bytes]
    ingest: subprocess.Popen[bytes]
    ingest_log: Path
    location: AwsLocation
    tally: RequestTally  # every request moto answered, as AWS would bill it

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def queue(self, name: str) -> str:
        return sqs_client(self.location).get_queue_url(QueueName=name)["QueueUrl"]

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsPlatform]:
    var = tmp_path_factory.mktemp("var")
    port, flower_port = free_port(), free_port()
    plain = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEPIPE_", "CELERY_", "FLOWER_"))
    }
    tally = RequestTally()
    with (
        moto_server(tally) as endpoint,
        ExitStack() as stack,
        pytest.MonkeyPatch.context() as patch,
    ):
        # This process's own clients (the test's checks) use the same dummy credentials.
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env = aws_env(plain, endpoint) | {
            "IMAGEPIPE_DATA_DIR": str(var),
            "IMAGEPIPE_ORIGINALS_URL": f"s3://{ORIGINALS_BUCKET}/{ORIGINALS_PREFIX}",
            "IMAGEPIPE_VARIANTS_URL": f"s3://{VARIANTS_BUCKET}/{VARIANTS_PREFIX}",
            "IMAGEPIPE_CATALOG_URL": f"dynamodb://{TABLE}",
            "IMAGEPIPE_SECRET_KEY": "e2e-aws-secret-key-0123456789abcdef",
            "IMAGEPIPE_HOST": "127.0.0.1",
            "IMAGEPIPE_PORT": str(port),
            "FLOWER_PORT": str(flower_port),
            "FLOWER_UNAUTHENTICATED_API": "true",
            # Short long-polls: processes stop within a second or two of SIGTERM.
            "IMAGEPIPE_SQS_WAIT_SECONDS": "1",
            # No lease renewal within a test, however slow the machine: the bill test counts
            # the catalog's requests exactly (a renewal is a read and a write; app/lease.py).
            "IMAGEPIPE_LEASE_SECONDS": "3600",
            # Low enough for a 6.5 MB photo to go up in two parts (the default is 15 MB).
            "IMAGEPIPE_MULTIPART_THRESHOLD_BYTES": "5000000",
            "IMAGEPIPE_MULTIPART_PART_BYTES": str(5 * 1024 * 1024),
        }
        provisioned = cli(env, "provision").splitlines()
        assert f"table = {TABLE}" in provisioned
        assert f"uploads_dlq_url = {endpoint}/123456789012/uploads-dlq" in provisioned
        assert cli(env, "provision").splitlines() == provisioned  # idempotent
        # Each process names itself in botocore's user agent, so the tally can tell them apart.
        web(stack, env | {UA_APP_ID: "api"}, var)
        ingest_proc = ingest(stack, env | {UA_APP_ID: "ingest"}, var)
        worker_proc = worker(stack, env | {UA_APP_ID: "worker"}, var)
        flower(stack, env | {UA_APP_ID: "flower"}, var)
        # Events reach only the queues subscribed when they are sent: wait until Flower's is.
        wait_for(
            lambda: flower_workers(f"http://127.0.0.1:{flower_port}"),
            timeout=60,
            what="Flower to hear the worker's heartbeat",
        )
        platform = AwsPlatform(
            base=f"http://127.0.0.1:{port}",
            flower=f"http://127.0.0.1:{flower_port}",
            token=cli(env, "token", "alice").strip(),
            env=env,
            logs=var,
            stack=stack,
            worker=worker_proc,
            ingest=ingest_proc,
            ingest_log=var / "ingest.log",
            location=AwsLocation(region="us-east-1", endpoint_url=endpoint),
            tally=tally,
        )
        yield platform
        assert platform.worker.poll() is None, "the worker died during the tests"
        assert platform.ingest.poll() is None, "the ingest process died during the tests"


def cli(env: dict[str, str], *args: str) -> str:
    done = run_python("-m", "app.cli", *args, env=env, timeout=None)
    assert done.returncode == 0, done.stderr
    return done.stdout


def upload(aws: AwsPlatform, data: bytes, filename: str, content_type: str) -> str:
    """The client's part: ask for a presigned POST, then post the bytes straight to S3."""
    image_id, form_url = presigned_upload(aws.api, data, filename, content_type)
    assert form_url.startswith(aws.location.endpoint_url or "?")
    return image_id


def settled(aws: AwsPlatform, image_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        if aws.worker.poll() is not None:
            raise RuntimeError("the worker exited")
        record: dict[str, Any] = aws.api("GET", f"/image/{image_id}").json()
        return record if record["status"] in ("ready", "failed") else None

    return wait_for(probe, timeout=180, what=f"image {image_id} to settle", interval=0.25)


def variant_objects(aws: AwsPlatform, image_id: str) -> dict[str, tuple[str, Any]]:
    """Every object under the image's variants prefix: name -> (ETag, LastModified)."""
    listing = s3_client(aws.location).list_objects_v2(
        Bucket=VARIANTS_BUCKET, Prefix=f"{VARIANTS_PREFIX}/{image_id}/"
    )
    return {
        o["Key"].rsplit("/", 1)[-1]: (o["ETag"], o["LastModified"])
        for o in listing.get("Contents", [])
    }


def catalog_item(aws: AwsPlatform, image_id: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb_client(aws.location).get_item(
        TableName=TABLE, Key={"image_id": {"S": image_id}}, ConsistentRead=True
    )["Item"]
    return item


def s3_event(image_id: str, etag: str) -> str:
    """An ObjectCreated notification as S3 sends it: the key URL-encoded."""
    key = f"{ORIGINALS_PREFIX}/{image_id}"
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Post",
                    "s3": {
                        "bucket": {"name": ORIGINALS_BUCKET},
                        "object": {"key": quote_plus(key), "eTag": etag},
                    },
                }
            ]
        }
    )


def flower_workers(flower_url: str) -> dict[str, Any] | None:
    """The live workers Flower's dashboard lists (from events), once it lists ours."""
    listed = requests.get(f"{flower_url}/workers?json=1", timeout=10).json()["data"]
    alive = {w["hostname"]: w for w in listed if w.get("status")}
    return alive if any(h.startswith("e2e@") for h in alive) else None


def queue_is_empty(aws: AwsPlatform, name: str) -> bool | None:
    counts = sqs_client(aws.location).get_queue_attributes(
        QueueUrl=aws.queue(name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return True if not any(int(v) for v in counts.values()) else None


@pytest.fixture(scope="module")
def storm(aws: AwsPlatform) -> str:
    """A real photo, uploaded once and processed; its image ID."""
    image_id = upload(aws, photo("mate_Storm.jpg").read_bytes(), "storm.jpg", "image/jpeg")
    assert settled(aws, image_id)["status"] == "ready"
    # `encode`, the chain's last stage on S3, marks the image ready, and its task ends after.
    last = re.compile(rf"Task imagepipe\.{STAGES[-1]}\[[^]]+\] succeeded")
    wait_for(
        lambda: True if last.search(aws.log("worker")) else None,
        timeout=180,
        what="the chain's last stage",
    )
    wait_for(lambda: work_is_gone(aws, image_id), timeout=180, what="the working master to go")
    return image_id


def work_is_gone(aws: AwsPlatform, image_id: str) -> bool | None:
    listing = s3_client(aws.location).list_objects_v2(
        Bucket=VARIANTS_BUCKET, Prefix=f"{VARIANTS_PREFIX}/_work/{image_id}/"
    )
    return True if listing["KeyCount"] == 0 else None


def test_a_photo_passes_every_hop(aws: AwsPlatform, storm: str) -> None:
    s3 = s3_client(aws.location)
    # 1. The bytes are in the originals bucket, typed as the policy demanded, and encrypted
    #    (S3 enforces the policy's header; moto applies the bucket's default, set by provision).
    original = s3.head_object(Bucket=ORIGINALS_BUCKET, Key=f"{ORIGINALS_PREFIX}/{storm}")
    assert original["ContentLength"] == photo("mate_Storm.jpg").stat().st_size
    assert original["ContentType"] == "image/jpeg"
    assert original["ServerSideEncryption"] == "AES256"
    # 2. S3's event reached the uploads queue and the ingest process handed it to Celery.
    etag = original["ETag"].strip('"')
    assert f"started {storm} (event {etag})" in aws.log("ingest")
    # 3. The chain ran on SQS, one task per stage.
    worker_log = aws.log("worker")
    for stage in STAGES:
        assert f"Task imagepipe.{stage}[" in worker_log, stage
    assert "Task imagepipe.compress[" not in worker_log  # nothing for it to make by default
    assert "Task imagepipe.record[" not in worker_log  # no pyramid stored for it to drop
    # 4. Variants are in the variants bucket, encrypted: each stage's in one object (the first
    #    paint; the AVIFs), read back by range; no master left.
    record = aws.api("GET", f"/image/{storm}").json()
    stored = variant_objects(aws, storm)
    assert len(stored) == 2 and all(name.startswith(PACK_PREFIX) for name in stored), stored
    for name in stored:
        head = s3.head_object(Bucket=VARIANTS_BUCKET, Key=f"{VARIANTS_PREFIX}/{storm}/{name}")
        assert head["ServerSideEncryption"] == "AES256"
    # Every variant processing makes is served from them; the rest on first request.
    made = [v for v in record["variants"] if not v["on_request"]]
    assert {"640.webp", "1280.avif", "160-lq.webp"} <= {v["name"] for v in made}
    for variant in made:
        served = requests.get(variant["url"], timeout=30)
        assert served.status_code == 200, variant["name"]
        assert "immutable" in served.headers["Cache-Control"]
        with Image.open(io.BytesIO(served.content)) as image:
            assert image.size == (variant["width"], variant["height"])
            assert served.headers["Content-Type"] == f"image/{image.format.lower()}"
    jpeg = next(v for v in record["variants"] if v["name"] == "320.jpg")
    assert jpeg["on_request"] and "320.jpg" not in stored
    first = requests.get(jpeg["url"], timeout=60)  # the API makes it, stores it in the bucket
    assert first.status_code == 200 and first.headers["Content-Type"] == "image/jpeg"
    assert "320.jpg" in variant_objects(aws, storm)
    head = s3.head_object(Bucket=VARIANTS_BUCKET, Key=f"{VARIANTS_PREFIX}/{storm}/320.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["ServerSideEncryption"] == "AES256"
    assert "immutable" in head["CacheControl"]
    work = s3.list_objects_v2(Bucket=VARIANTS_BUCKET, Prefix=f"{VARIANTS_PREFIX}/_work/{storm}/")
    assert work["KeyCount"] == 0
    # 5. The DynamoDB record is ready, stored as readable attributes, out of the open index.
    item = catalog_item(aws, storm)
    assert item["status"] == {"S": "ready"}
    assert item["user_id"] == {"S": "alice"}
    assert "N" in item["upload_time"] and "L" in item["variants"]
    assert "open_status" not in item
    # 6. The API serves it: the record, a variant, and the user's list.
    assert record["status"] == "ready"
    assert (record["width"], record["height"]) == (1920, 1280)
    variant = next(v for v in record["variants"] if v["name"] == "640.webp")
    fetched = requests.get(variant["url"], timeout=30)
    assert fetched.status_code == 200
    assert Image.open(io.BytesIO(fetched.content)).size == (variant["width"], variant["height"])
    listed = aws.api("GET", "/images?user_id=alice").json()
    assert storm in [i["image_id"] for i in listed["images"]]


def test_a_replayed_event_changes_nothing(aws: AwsPlatform, storm: str) -> None:
    before_item = catalog_item(aws, storm)
    before_objects = variant_objects(aws, storm)
    original = s3_client(aws.location).head_object(
        Bucket=ORIGINALS_BUCKET, Key=f"{ORIGINALS_PREFIX}/{storm}"
    )
    etag = original["ETag"].strip('"')
    uploads = aws.queue("uploads")
    sqs = sqs_client(aws.location)
    # The same event twice: the ingest process has just handed it over, and says so.
    for _ in range(2):
        sqs.send_message(QueueUrl=uploads, MessageBody=s3_event(storm, etag))
    duplicate = f"duplicate event for {ORIGINALS_PREFIX}/{storm} ({etag}) ignored"
    wait_for(
        lambda: True if aws.log("ingest").count(duplicate) >= 2 else None,
        timeout=30,
        what="the ingest process to drop both replays",
    )
    # After a restart (SIGTERM: a clean stop) the process has forgotten it; the catalog has not.
    os.killpg(aws.ingest.pid, signal.SIGTERM)
    assert aws.ingest.wait(timeout=20) == 0
    assert "ingest stopped" in aws.log("ingest")
    aws.ingest = ingest(aws.stack, aws.env | {UA_APP_ID: "ingest"}, aws.logs, "ingest-restarted")
    sqs.send_message(QueueUrl=uploads, MessageBody=s3_event(storm, etag))
    wait_for(
        lambda: True if f"started {storm}" in aws.log("ingest-restarted") else None,
        timeout=30,
        what="the restarted ingest process to hand the replay over",
    )
    wait_for(
        lambda: True if f"image {storm} already claimed or finished" in aws.log("worker") else None,
        timeout=30,
        what="the ingest task to find the image finished",
    )
    assert catalog_item(aws, storm) == before_item  # same version, same everything
    assert variant_objects(aws, storm) == before_objects  # nothing rewritten
    listed = aws.api("GET", "/images?user_id=alice&limit=100").json()["images"]
    assert [i["image_id"] for i in listed].count(storm) == 1


def test_malformed_events_go_to_the_dead_letter_queue(aws: AwsPlatform) -> None:
    sqs = sqs_client(aws.location)
    bad = ["{not json", "[]", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})]
    for body in bad:
        sqs.send_message(QueueUrl=aws.queue("uploads"), MessageBody=body)
    dead: dict[str, str] = {}

    def all_dead() -> bool | None:
        got = sqs.receive_message(
            QueueUrl=aws.queue("uploads-dlq"),
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        )
        for message in got.get("Messages", []):
            dead[message["Body"]] = message["MessageAttributes"]["imagepipe-error"]["StringValue"]
        return True if set(bad) <= set(dead) else None

    wait_for(all_dead, timeout=30, what="the malformed messages in the dead-letter queue")
    assert dead["{not json"] == "the body is not JSON"
    wait_for(lambda: queue_is_empty(aws, "uploads"), timeout=30, what="the uploads queue to drain")
    assert aws.ingest.poll() is None, "a malformed message must not stop the ingest process"


def test_a_pdf_named_jpg_fails_once_with_a_reason(aws: AwsPlatform) -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    image_id = upload(aws, pdf, "holiday.jpg", "image/jpeg")
    record = settled(aws, image_id)
    assert record["status"] == "failed"
    assert record["failure_reason"] == "unsupported_format"
    assert record["variants"] == []
    # It does not loop: the task queue drains, nothing was dead-lettered, one attempt was made.
    wait_for(lambda: queue_is_empty(aws, "imagepipe"), timeout=60, what="the task queue to drain")
    assert queue_is_empty(aws, "imagepipe-dlq")
    assert catalog_item(aws, image_id)["attempts"] == {"N": "1"}


def test_a_large_photo_goes_up_in_parts_and_a_broken_part_is_retried(aws: AwsPlatform) -> None:
    with Image.open(photo("lomiri16_Dragonfly_by_Bolly.jpg")) as img:
        data = jpeg_bytes(img.convert("RGB"), quality=100, subsampling=0)
    assert len(data) > 5_000_000
    ticket = aws.api(
        "POST",
        "/upload",
        json={"filename": "big.jpg", "content_type": "image/jpeg", "size": len(data)},
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    image_id, multipart = body["image_id"], body["upload"]["multipart"]
    assert body["upload"]["fields"]["key"] == f"{ORIGINALS_PREFIX}/{image_id}"  # the POST, too
    parts = multipart["parts"]
    assert [p["size"] for p in parts] == [5 * 1024 * 1024, len(data) - 5 * 1024 * 1024]
    signed = parse_qs(urlsplit(parts[0]["url"]).query)["X-Amz-SignedHeaders"][0]
    assert "content-length" in signed.split(";")  # S3 refuses a part of another size
    etags: dict[int, str] = {}
    offset = 0
    for part in parts:
        chunk = data[offset : offset + part["size"]]
        offset += part["size"]
        if part["part_number"] == 1:  # the first try arrives damaged ...
            damaged = requests.put(part["url"], data=b"\0" * len(chunk), timeout=60)
            assert damaged.status_code == 200
            etags[0] = damaged.headers["ETag"]
        put = requests.put(part["url"], data=chunk, timeout=60)  # ... and is simply sent again
        assert put.status_code == 200, put.text
        etags[part["part_number"]] = put.headers["ETag"]
    complete = multipart["complete_url"]
    assert complete == f"{aws.base}/upload/{image_id}/complete"
    stale = [{"part_number": 1, "etag": etags[0]}, {"part_number": 2, "etag": etags[2]}]
    path, upload_id = urlsplit(complete).path, multipart["upload_id"]
    refused = aws.api("POST", path, json={"upload_id": upload_id, "parts": stale})
    assert refused.status_code == 400, refused.text
    good = [{"part_number": n, "etag": etags[n]} for n in (1, 2)]
    done = aws.api("POST", path, json={"upload_id": upload_id, "parts": good})
    assert done.status_code == 204, done.text
    stored = s3_client(aws.location).get_object(
        Bucket=ORIGINALS_BUCKET, Key=f"{ORIGINALS_PREFIX}/{image_id}"
    )
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(data).digest()
    assert stored["ServerSideEncryption"] == "AES256"
    record = settled(aws, image_id)
    assert record["status"] == "ready", record
    assert (record["width"], record["height"]) == (4224, 3168)


@pytest.fixture(scope="module")
def large_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 13 MP photo as a 14 MB PNG: three parts of 5 MiB (the fixture's part size)."""
    path = tmp_path_factory.mktemp("large") / "dragonfly.png"
    with Image.open(photo("lomiri16_Dragonfly_by_Bolly.jpg")) as img:
        img.convert("RGB").save(path, "PNG", compress_level=1)
    assert path.stat().st_size > 2 * 5 * 1024 * 1024
    return path


def original_digest(aws: AwsPlatform, image_id: str) -> bytes:
    stored = s3_client(aws.location).get_object(
        Bucket=ORIGINALS_BUCKET, Key=f"{ORIGINALS_PREFIX}/{image_id}"
    )
    return hashlib.sha256(stored["Body"].read()).digest()


def part_number(url: str) -> int | None:
    found = parse_qs(urlsplit(url).query).get("partNumber")
    return int(found[0]) if found else None


def test_the_page_sends_a_large_photo_in_parts_and_resumes_after_a_drop(
    aws: AwsPlatform, large_png: Path
) -> None:
    small = photo("skimage_coffee.png")  # under the threshold: the presigned POST, to S3 too
    attempts: list[int] = []  # part numbers, one per PUT that left the page

    def drop_part_two_once(route: Any) -> None:
        number = part_number(route.request.url)
        if route.request.method != "PUT" or number is None:
            return route.continue_()
        attempts.append(number)
        if number == 2 and attempts.count(2) == 1:
            return route.abort("connectionreset")  # the connection drops mid-file
        return route.continue_()

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.route(re.compile(r"[?&]partNumber=\d+"), drop_part_two_once)
        page.goto(f"{aws.base}/#token={aws.token}")
        page.get_by_text("Signed in as alice").wait_for(timeout=30_000)
        page.set_input_files("#file", [str(large_png), str(small)])
        page.get_by_text(re.compile("connection lost; retry 1 in")).wait_for(timeout=60_000)
        page.wait_for_function(
            "() => ['dragonfly.png', 'skimage_coffee.png'].every(name =>"
            " [...document.querySelectorAll('#items li')].some(li =>"
            " li.querySelector('.name').textContent === name && li.dataset.imageId"
            " && ['pending', 'processing', 'ready'].includes(li.dataset.status)))",
            timeout=120_000,
        )
        ids = page.locator("#items li").evaluate_all(
            "lis => Object.fromEntries(lis.map(li =>"
            " [li.querySelector('.name').textContent, li.dataset.imageId]))"
        )
        # Parts 1 and 3 went once; only the dropped part 2 was sent again.
        assert sorted(attempts) == [1, 2, 2, 3], attempts
        assert page.evaluate("() => window.cspViolations") == []
        page.close()
    big = settled(aws, ids["dragonfly.png"])
    assert big["status"] == "ready", big
    assert (big["width"], big["height"]) == (4224, 3168)
    assert (
        original_digest(aws, ids["dragonfly.png"])
        == hashlib.sha256(large_png.read_bytes()).digest()
    )
    assert settled(aws, ids["skimage_coffee.png"])["status"] == "ready"


@dataclass
class DroppingProxy:
    """An HTTP proxy on loopback that cuts the first PUT of part 2 halfway through its body."""

    seen: list[tuple[str, int | None, int]] = field(default_factory=list)  # method, part, bytes
    server: ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def do_PUT(self) -> None:
                self.forward()

            def forward(self) -> None:
                target = urlsplit(self.path)  # a proxy is sent the absolute URL
                length = int(self.headers.get("Content-Length", "0"))
                number = part_number(self.path)
                dropping = self.command == "PUT" and number == 2 and not proxy.dropped
                body = self.rfile.read(length // 2 if dropping else length)
                proxy.seen.append((self.command, number, len(body)))
                if dropping:
                    # Reset, not a polite close: what a lost mobile connection looks like.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection(target.netloc, timeout=120)
                path = target.path + (f"?{target.query}" if target.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                upstream.request(self.command, path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def dropped(self) -> bool:
        return any(method == "PUT" and number == 2 for method, number, _ in self.seen)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_cli_sends_a_large_photo_in_parts_and_resumes_after_a_drop(
    aws: AwsPlatform, large_png: Path
) -> None:
    proxy = DroppingProxy()
    env = {k: v for k, v in aws.env.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env |= {"http_proxy": proxy.url, "HTTP_PROXY": proxy.url}  # every request goes through it
    cli_upload = python("-m", "app.cli", "upload", str(large_png), "--json", "--api", aws.base)
    try:
        done = subprocess.run(
            [*cli_upload, "--token", aws.token],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    puts = [(number, sent) for method, number, sent in proxy.seen if method == "PUT"]
    size = large_png.stat().st_size
    part = 5 * 1024 * 1024
    # Part 2 was cut halfway, then only it was sent again, whole; parts 1 and 3 once each.
    assert puts == [(1, part), (2, part // 2), (2, part), (3, size - 2 * part)], puts
    [result] = json.loads(done.stdout)
    assert result["status"] == "ready", result
    assert (result["width"], result["height"]) == (4224, 3168)
    assert (
        original_digest(aws, result["image_id"]) == hashlib.sha256(large_png.read_bytes()).digest()
    )


def test_flower_lists_the_worker_and_the_chain(aws: AwsPlatform, storm: str) -> None:
    """Celery events reach Flower through SNS (tasks/sqs_transport.py)."""

    def counted() -> dict[str, Any] | None:
        # The record is written before the last task-succeeded event reaches Flower.
        alive = flower_workers(aws.flower) or {}
        done = any(w.get("task-succeeded", 0) >= len(STAGES) for w in alive.values())
        return alive if done else None

    wait_for(counted, timeout=60, what="Flower to count the chain's successes")
    status = requests.get(f"{aws.flower}/api/workers?status=1", timeout=10).json()
    assert any(name.startswith("e2e@") and up for name, up in status.items()), status

    def chain() -> dict[str, set[str]] | None:
        tasks = requests.get(f"{aws.flower}/api/tasks", timeout=10).json()
        seen: dict[str, set[str]] = {}
        for task in tasks.values():
            if storm in (task.get("args") or ""):
                seen.setdefault(task["name"], set()).add(task["state"])
        wanted = {f"imagepipe.{stage}" for stage in STAGES}
        return seen if wanted <= set(seen) else None

    seen = wait_for(chain, timeout=60, what="Flower to list the chain's tasks")
    assert all("SUCCESS" in states for states in seen.values()), seen


def flower_inspected(flower_url: str, query: str = "") -> tuple[str, dict[str, Any]] | None:
    """Our worker as Flower's remote-control inspection sees it, once it answered stats."""
    workers = requests.get(f"{flower_url}/api/workers?refresh=1{query}", timeout=30).json()
    for name, info in workers.items():
        if name.startswith("e2e@") and "stats" in info and "registered" in info:
            return name, info
    return None


def temporary_queues(aws: AwsPlatform) -> set[str]:
    """Event receivers' and remote-control clients' queues (tasks/sqs_transport.py)."""
    urls = sqs_client(aws.location).list_queues().get("QueueUrls", [])
    names = {url.rsplit("/", 1)[-1] for url in urls}
    return {n for n in names if n.startswith("celeryev-") or n.endswith("-reply-celery-pidbox")}


def test_flower_inspects_and_controls_the_worker(aws: AwsPlatform) -> None:
    """Remote control through SNS, with replies to Flower's queue (tasks/sqs_transport.py)."""
    name, info = wait_for(
        lambda: flower_inspected(aws.flower), timeout=60, what="Flower to inspect the worker"
    )
    stats = info["stats"]
    assert stats["pid"] == aws.worker.pid
    assert stats["pool"]["max-concurrency"] == 2
    assert stats["broker"]["transport"] == "tasks.sqs_transport:Transport"
    registered = {f"imagepipe.{stage}" for stage in (*STAGES, "compress", "record")}
    assert registered <= set(info["registered"])
    assert [q["name"] for q in info["active_queues"]] == ["imagepipe"]

    def pool_size(wanted: int) -> bool | None:
        found = flower_inspected(aws.flower, f"&workername={name}")
        processes = found[1]["stats"]["pool"]["processes"] if found else []
        return True if len(processes) == wanted else None

    grown = requests.post(f"{aws.flower}/api/worker/pool/grow/{name}?n=1", timeout=30)
    assert grown.status_code == 200, grown.text
    assert grown.json() == {"message": f"Growing '{name}' worker's pool by 1"}
    wait_for(lambda: pool_size(3), timeout=60, what="a third pool process")
    shrunk = requests.post(f"{aws.flower}/api/worker/pool/shrink/{name}?n=1", timeout=30)
    assert shrunk.status_code == 200, shrunk.text
    wait_for(lambda: pool_size(2), timeout=60, what="the pool back at two processes")


def test_celery_inspect_from_another_process_reaches_the_worker(aws: AwsPlatform) -> None:
    name = next(n for n in wait_for(lambda: flower_workers(aws.flower), timeout=60, what="Flower"))
    before = temporary_queues(aws)
    ping = ("inspect", "ping", "--json", "--timeout", "10", "--destination", name)
    done = run_python("-m", "celery", "-A", "tasks.celery_app", *ping, env=aws.env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {name: {"ok": "pong"}}
    assert temporary_queues(aws) == before  # its reply queue went when it exited


def test_flowers_queues_go_when_it_stops(aws: AwsPlatform, tmp_path: Path) -> None:
    before = temporary_queues(aws)
    url = f"http://127.0.0.1:{free_port()}"
    with ExitStack() as stack:
        flower(stack, aws.env | {"FLOWER_PORT": url.rsplit(":", 1)[-1]}, tmp_path)
        wait_for(lambda: flower_inspected(url), timeout=60, what="the second Flower's inspection")
        made = temporary_queues(aws) - before
        assert any(n.startswith("celeryev-") for n in made), made
        assert any(n.endswith("-reply-celery-pidbox") for n in made), made
    assert temporary_queues(aws) == before, (tmp_path / "flower.log").read_text()[-3000:]


def test_health_reaches_every_aws_backend(aws: AwsPlatform) -> None:
    body = requests.get(f"{aws.base}/health", timeout=10).json()
    assert body["status"] == "ok", body
    assert {"originals", "variants", "catalog", "broker"} <= set(body["backends"])


# One image's bill, as bench.bill_of_materials counts it in one process; run apart, since
# moto's in-process mock would reset the server's state in this one.
BENCH_BILL = """
import json, sys
from pathlib import Path
from bench.bill_of_materials import measure
bill = measure(Path(sys.argv[1]))
print(json.dumps({"calls": bill.as_dict()["calls"], "put_bytes": bill.s3_put_bytes,
                  "tasks": bill.tasks}))
"""


def test_one_photo_bills_what_the_bill_of_materials_counts(aws: AwsPlatform) -> None:
    """docs/capacity.md prices an image from bench.bill_of_materials, which calls the stages in
    one process and models what other processes send: Celery's task messages and events. Here
    the same method's photo crosses the real processes and moto's server counts every request."""
    source = photo("mate_Storm.jpg")
    done = run_python("-c", BENCH_BILL, str(source), timeout=600)
    assert done.returncode == 0, done.stderr
    bench = json.loads(done.stdout.splitlines()[-1])
    # No chain in flight (an earlier test's may still be finishing): every task message sent
    # from here on is this image's. Events are matched to its tasks, as a worker sends a task's
    # last events after its acknowledgement.
    for queue in ("imagepipe", "uploads"):
        wait_for(lambda q=queue: queue_is_empty(aws, q), timeout=180, what=f"{queue} to drain")
    mark = aws.tally.mark()
    image_id = upload(aws, source.read_bytes(), "bill.jpg", "image/jpeg")
    tasks = bench["tasks"]
    assert tasks == len(STAGES)  # the chain the bench called is the one the worker ran

    def counts(calls: list[Call]) -> dict[str, Any]:
        queued = [c for c in calls if c.service == "sqs" and c.target == "imagepipe"]
        uploads = [c for c in calls if c.service == "sqs" and c.target == "uploads"]
        ids = {c.task.split()[0] for c in queued if image_id in c.task}
        published = [c for c in calls if any(e.task_id in ids for e in c.events)]
        return {
            "tasks sent": sum(c.operation == "SendMessage" for c in queued),
            "tasks received": sum(c.messages for c in queued if c.operation == "ReceiveMessage"),
            "tasks deleted": sum(c.operation == "DeleteMessage" for c in queued),
            "events": Counter(e.type for c in published for e in c.events if e.task_id in ids),
            "event publishes": len(published),
            "s3 event received": sum(c.messages for c in uploads),
            "s3 event deleted": sum(c.operation == "DeleteMessage" for c in uploads),
        }

    def finished() -> list[Call] | None:
        calls = aws.tally.calls(mark)
        seen = counts(calls)
        events_in = all(seen["events"][t] >= tasks for t in bom.TASK_EVENTS)
        # A task's message is deleted once it has run (acks_late): record's requests are in.
        done = seen["tasks deleted"] >= tasks and seen["s3 event deleted"]
        return calls if done and events_in else None

    calls = wait_for(finished, timeout=180, what="the chain's last requests", interval=0.25)
    assert [c for c in calls if c.status >= 500] == []  # a retried failure would count twice
    # S3 and DynamoDB, as the platform's processes (named by AWS_SDK_UA_APP_ID) made them, and the
    # browser's form post (this test, posting as a browser would).
    platform_calls = [c for c in calls if c.caller in ("api", "ingest", "worker")]
    stores = [c for c in platform_calls if c.service in ("s3", "dynamodb")]
    admission = [c for c in stores if c.operation == "Query" and c.caller == "api"]
    own = [c for c in stores if image_id in c.target] + admission
    assert [c for c in stores if c not in own] == [], "S3 or DynamoDB calls about other things"
    posted = [c for c in calls if c.operation == "PostObject" and image_id in c.target]
    assert len(posted) == 1 and posted[0].bytes_in > source.stat().st_size
    measured = Counter(f"{c.service} {c.operation}" for c in own)
    measured["s3 PutObject"] += len(posted)  # the bench PUTs the original
    modelled = {k: n for k, n in bench["calls"].items() if k.split()[0] in ("s3", "dynamodb")}
    breakdown = list(by_operation(own))
    assert dict(measured) == modelled, f"measured {breakdown}, bench {modelled}"
    # The bytes stored: the original (the bench's first PUT), then each variant, byte for byte;
    # on S3 encode decodes the original again, so no working pyramid is stored at all.
    assert not [c for c in own if c.operation == "PutObject" and "/_work/" in c.target]
    assert bench["put_bytes"][0] == source.stat().st_size
    stored = sorted(c.bytes_in for c in own if c.operation == "PutObject")
    assert stored == sorted(bench["put_bytes"][1:])
    # SQS and SNS, which the bench models: S3's event read once and deleted; each Celery task
    # sent, received and deleted once; each of its events published, some grouped in one Publish.
    seen = counts(calls)
    assert seen["s3 event received"] == seen["s3 event deleted"] == 1
    assert seen["tasks sent"] == seen["tasks received"] == seen["tasks deleted"] == tasks
    assert seen["events"] == dict.fromkeys(bom.TASK_EVENTS, tasks)
    assert seen["event publishes"] <= tasks * bom.EVENTS_PER_TASK
