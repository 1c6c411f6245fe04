"""The ingest process: S3 events from SQS (moto in process) to the broker, once each."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app import logs
from app.aws import AwsLocation, sqs_client
from app.catalog import ImageRecord, Status
from app.ops.provision import ensure_queue
from app.services import Services, build_services
from tasks import ingest as ingest_module
from tasks.ingest import ERROR_ATTRIBUTE, Ingestor, Malformed, Seen, parse_event
from tests.conftest import make_settings

BUCKET, PREFIX = "originals-bucket", "originals"


def event(
    key: str, *, etag: str = "e1", bucket: str = BUCKET, name: str = "ObjectCreated:Post"
) -> str:
    record = {
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag, "size": 1}},
    }
    return json.dumps({"Records": [record]})


# --- parsing ---


def test_keys_are_url_decoded() -> None:
    (created,) = parse_event(event("originals%2Fmy+holiday%21.jpg", etag="abc"))
    assert created.key == "originals/my holiday!.jpg"
    assert (created.bucket, created.version) == (BUCKET, "abc")


def test_the_sequencer_identifies_a_write_before_the_etag() -> None:
    body = json.loads(event("originals/a"))
    body["Records"][0]["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    assert parse_event(json.dumps(body))[0].version == "0055AED6DCD90281E5"


def test_test_events_and_other_kinds_are_skipped() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    assert parse_event(json.dumps(test_event)) == []
    assert parse_event(event("originals/a", name="ObjectRemoved:Delete")) == []


def test_an_event_wrapped_by_sns_is_read() -> None:
    wrapped = json.dumps({"Type": "Notification", "Message": event("originals/a")})
    assert [e.key for e in parse_event(wrapped)] == ["originals/a"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        "{}",
        '{"Records": []}',
        '{"Records": [{"eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, '
        '"object": {"key": ""}}}]}',
        '{"Records": ["x"]}',
    ],
)
def test_malformed_bodies_are_named(body: str) -> None:
    with pytest.raises(Malformed):
        parse_event(body)


def test_the_lru_forgets_the_oldest() -> None:
    seen = Seen(size=2)
    for item in (("a", "1"), ("b", "1"), ("c", "1")):
        seen.add(item)
    assert ("a", "1") not in seen
    assert ("b", "1") in seen and ("c", "1") in seen


# --- the loop, against moto's SQS ---


@dataclass
class Queues:
    sqs: Any
    url: str
    dlq: str
    sent: list[str] = field(default_factory=list)

    def ingestor(self, send: Callable[[str], None] | None = None, **kwargs: Any) -> Ingestor:
        return Ingestor(
            self.sqs,
            self.url,
            bucket=BUCKET,
            prefix=PREFIX,
            send=send or self.sent.append,
            dead_letter_url=self.dlq,
            wait_seconds=0,
            **kwargs,
        )

    def put(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def drain(self, ingestor: Ingestor) -> list[str]:
        outcomes = []
        while messages := ingestor.receive():
            outcomes += [ingestor.handle(m) for m in messages]
        return outcomes

    def count(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())


@pytest.fixture
def queues(aws: AwsLocation) -> Queues:
    sqs = sqs_client(aws)
    dlq = ensure_queue(sqs, "uploads-dlq", dlq=True)
    url = ensure_queue(sqs, "uploads", visibility=60, dead_letter=(dlq, 5))
    return Queues(sqs, url, dlq)


def test_the_dead_letter_queue_is_found_from_the_redrive_policy(queues: Queues) -> None:
    assert ingest_module.dead_letter_queue(queues.sqs, queues.url) == queues.dlq


def test_events_are_handed_over_once_and_deleted(queues: Queues) -> None:
    queues.put(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))
    queues.put(event("originals%2Fimg1", etag="e1"))
    queues.put(event("originals%2Fimg1", etag="e1"))  # S3 delivered it twice
    queues.put(event("elsewhere%2Fimg2"))  # outside the originals prefix
    queues.put(event("originals%2Fimg3", bucket="another-bucket"))
    queues.put(event("originals%2F..%2Fescape"))  # not a key the store would accept
    ingestor = queues.ingestor()
    outcomes = queues.drain(ingestor)
    assert queues.sent == ["img1"]
    assert sorted(outcomes) == sorted(
        ["skipped", "started", "duplicate", "ignored", "ignored", "ignored"]
    )
    assert queues.count(queues.url) == 0  # every message was deleted
    assert queues.count(queues.dlq) == 0
    assert ingestor.counts["started"] == 1 and ingestor.counts["duplicate"] == 1


def test_each_started_event_gets_its_own_request_id_for_its_chain(queues: Queues) -> None:
    """No API request starts a chain on AWS: the ingest process makes the ID the chain carries."""
    ids: list[str | None] = []
    queues.put(event("originals%2Fimg1", etag="e1"))
    queues.put(event("originals%2Fimg2", etag="e2"))
    queues.drain(queues.ingestor(send=lambda key: ids.append(logs.current_request_id())))
    assert len(ids) == 2 and all(ids) and ids[0] != ids[1]
    assert logs.current_request_id() is None


def test_a_malformed_message_goes_to_the_dead_letter_queue(queues: Queues) -> None:
    queues.put("{not json")
    ingestor = queues.ingestor()
    assert queues.drain(ingestor) == ["malformed"]
    assert ingestor.counts["malformed"] == 1
    assert queues.count(queues.url) == 0
    dead = queues.sqs.receive_message(QueueUrl=queues.dlq, MessageAttributeNames=["All"])
    (message,) = dead["Messages"]
    assert message["Body"] == "{not json"
    assert message["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"] == "the body is not JSON"


def test_a_message_stays_when_the_broker_refuses_it(queues: Queues) -> None:
    def broker_down(key: str) -> None:
        raise ConnectionError("broker unreachable")

    queues.put(event("originals%2Fimg1"))
    ingestor = queues.ingestor(send=broker_down)
    assert queues.drain(ingestor) == ["kept"]
    assert ingestor.counts["handoff_failed"] == 1
    assert queues.count(queues.url) == 1  # in flight: SQS shows it again after the timeout
    # ... and a later, working hand-over is not mistaken for a duplicate.
    assert ("originals/img1", "e1") not in ingestor.seen


def test_a_replay_after_a_restart_is_stopped_by_the_catalog_claim(
    queues: Queues, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingest processes in turn (no shared memory): the catalog claim lets one chain start."""
    from tasks import pipeline

    services: Services = build_services(make_settings(tmp_path))
    services.catalog.add(
        ImageRecord(
            image_id="img1",
            user_id="alice",
            upload_time=time.time(),
            original_url="s3://originals-bucket/originals/img1",
            original_key="img1",
            content_type="image/jpeg",
            filename="a.jpg",
        )
    )
    chains: list[str] = []
    monkeypatch.setattr(pipeline, "services", lambda: services)
    monkeypatch.setattr(pipeline, "start_chain", lambda image_id, attempt: chains.append(image_id))

    def send(key: str) -> None:  # the broker delivering imagepipe.ingest to a worker at once
        pipeline.ingest.run(key)

    for _restart in range(2):
        queues.put(event("originals%2Fimg1", etag="e1"))
        assert queues.drain(queues.ingestor(send=send)) == ["started"]
    assert chains == ["img1"]
    assert services.catalog.get("img1").status is Status.PROCESSING


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.usefixtures("restore_signals")
def test_sigterm_finishes_the_poll_and_handles_what_it_brought(queues: Queues) -> None:
    ingestor = queues.ingestor()
    ingestor.wait_seconds = 2
    stopping = threading.Event()
    ingest_module.install_signal_handlers(stopping)
    # SIGTERM lands during a long poll; an event arrives after it, while that poll still waits.
    term = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    arrive = threading.Timer(0.6, queues.put, (event("originals%2Fimg1"),))
    started = time.monotonic()
    term.start()
    arrive.start()
    ingestor.run(stopping)
    term.join()
    arrive.join()
    assert stopping.is_set()
    assert time.monotonic() - started < 2 + 5  # that poll, and no other
    assert queues.sent == ["img1"]  # not left hidden in SQS by an abandoned request
    assert queues.count(queues.url) == 0


@pytest.mark.usefixtures("restore_signals")
def test_a_second_signal_exits_at_once() -> None:
    stopping = threading.Event()
    ingest_module.install_signal_handlers(stopping)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stopping.is_set()
    with pytest.raises(SystemExit) as leaving:
        os.kill(os.getpid(), signal.SIGTERM)
    assert leaving.value.code == 128 + signal.SIGTERM
