"""The ingest process: S3 ObjectCreated events from the `uploads` SQS queue, to Celery.

    python -m tasks.ingest        (the Procfile's `ingest` entry; AWS mode only)

It long-polls the queue the originals bucket notifies (app/ops/provision.py). For each message it
skips S3's `s3:TestEvent`, URL-decodes each record's key, ignores keys outside the originals
prefix, drops an event it has just handed over (same key and sequencer, or eTag, when S3 sends
no sequencer), and otherwise sends the `imagepipe.ingest` task, exactly as the embedded API does
(app/jobs.py). That task claims the image in the catalog before it starts the chain, so a replay
that gets past this process's memory (after a restart, or on another replica) changes nothing.

The message is deleted only once every record in it has been handed to the broker. When the
broker cannot be reached the message stays; SQS shows it again after the queue's visibility
timeout, and moves it to the dead-letter queue after `maxReceiveCount` receives. A malformed
message is logged, counted and moved to the dead-letter queue at once. SIGTERM or SIGINT stop
the loop cleanly: the long poll in progress (at most IMAGEPIPE_SQS_WAIT_SECONDS) is finished and
what it brought is handled. (Abandoning it would be quicker, but SQS may already have handed a
message to the abandoned request, and would then hide it for the whole visibility timeout.)
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from app import aws, logs
from app.settings import Settings, SettingsError, current
from app.storage.base import InvalidKey, check_key

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("imagepipe.ingest")

MAX_BATCH = 10  # SQS's limit per ReceiveMessage
ERROR_ATTRIBUTE = "imagepipe-error"


class Malformed(ValueError):
    """The message is not an S3 event notification this process can read."""


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str  # decoded: what S3 stores, not the URL-encoded text of the event
    version: str  # the record's sequencer, else its eTag: tells a replay from a new write


def parse_event(body: str) -> list[ObjectCreated]:
    """The ObjectCreated records of one S3 notification; [] for S3's test event and other kinds.

    Reads S3's own message, or the same wrapped in an SNS notification (S3 -> SNS -> SQS).
    """
    try:
        document = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(document, dict):
        raise Malformed("the body is not a JSON object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        return parse_event(document["Message"])
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise Malformed("no Records in the message")
    events = []
    for record in records:
        event = _record(record)
        if event is not None:
            events.append(event)
    return events


def _record(record: Any) -> ObjectCreated | None:
    try:
        name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = obj["key"]
    except (KeyError, TypeError):
        raise Malformed("a record lacks eventName, s3.bucket.name or s3.object.key") from None
    if not all(isinstance(v, str) and v for v in (name, bucket, key)):
        raise Malformed("eventName, bucket and key must be non-empty strings")
    if not name.startswith("ObjectCreated:"):
        return None
    version = obj.get("sequencer") or obj.get("eTag") or ""
    return ObjectCreated(bucket=bucket, key=unquote_plus(key), version=str(version))


class Seen:
    """The most recent (key, version) pairs handed over: a small in-process LRU."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, item: tuple[str, str]) -> bool:
        if item in self._items:
            self._items.move_to_end(item)
            return True
        return False

    def add(self, item: tuple[str, str]) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class Ingestor:
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        *,
        bucket: str,
        prefix: str,
        send: Callable[[str], None],
        dead_letter_url: str | None,
        wait_seconds: int = 20,
        seen: Seen | None = None,
    ) -> None:
        """send(key) hands one original (by its originals-store key) to the broker, or raises."""
        self.sqs = sqs
        self.queue_url = queue_url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.send = send
        self.dead_letter_url = dead_letter_url
        self.wait_seconds = wait_seconds
        self.seen = seen or Seen()
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings, send: Callable[[str], None]) -> Ingestor:
        if not settings.originals_url.startswith("s3://"):
            raise SettingsError(
                "IMAGEPIPE_ORIGINALS_URL is not s3://: the ingest process reads S3's events; "
                "in embedded mode the API raises ObjectCreated itself"
            )
        sqs = aws.sqs_client(aws.AwsLocation.from_settings(settings))
        queue = settings.uploads_queue
        url = queue if queue.startswith(("http://", "https://")) else _queue_url(sqs, queue)
        bucket, prefix = aws.split_s3_url(settings.originals_url)
        return cls(
            sqs,
            url,
            bucket=bucket,
            prefix=prefix,
            send=send,
            dead_letter_url=dead_letter_queue(sqs, url),
            wait_seconds=settings.sqs_wait_seconds,
        )

    def receive(self) -> list[Mapping[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_BATCH,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[Mapping[str, Any]] = list(response.get("Messages", []))
        return messages

    def handle(self, message: Mapping[str, Any]) -> str:
        """Hand one message's events to the broker; returns what happened, for logs and tests."""
        self.counts["messages"] += 1
        try:
            events = parse_event(message["Body"])
        except Malformed as exc:
            self.counts["malformed"] += 1
            log.error(
                "malformed message %s: %s: %.500s", message["MessageId"], exc, message["Body"]
            )
            self._dead_letter(message, str(exc))
            return "malformed"
        outcomes = []
        try:
            outcomes = [self._start(event) for event in events]
        except Exception:
            # The broker is down or refused: leave the message for SQS to show again (and, after
            # maxReceiveCount tries, to dead-letter); a replay of what did go through is harmless.
            self.counts["handoff_failed"] += 1
            log.exception("could not hand message %s to the broker; kept", message["MessageId"])
            return "kept"
        self._delete(message)
        if not events:
            self.counts["test_or_other"] += 1
            return "skipped"
        return ",".join(outcomes)

    def _start(self, event: ObjectCreated) -> str:
        if event.bucket != self.bucket:
            return self._ignore(event, "another bucket")
        key = self._store_key(event.key)
        if key is None:
            return self._ignore(event, "outside the originals prefix")
        identity = (event.key, event.version)
        if identity in self.seen:
            self.counts["duplicate"] += 1
            log.info("duplicate event for %s (%s) ignored", event.key, event.version)
            return "duplicate"
        # No API request started this chain: a new request ID for it, sent with the task, so
        # this line and every stage's carry the same one (docs/operations.md).
        with logs.bound(request_id=logs.request_id_from(None), image_id=key):
            self.send(key)
            self.seen.add(identity)
            self.counts["started"] += 1
            log.info("started %s (event %s)", key, event.version)
        return "started"

    def _store_key(self, object_key: str) -> str | None:
        head = f"{self.prefix}/" if self.prefix else ""
        if not object_key.startswith(head):
            return None
        try:
            return check_key(object_key[len(head) :])
        except InvalidKey:
            return None

    def _ignore(self, event: ObjectCreated, why: str) -> str:
        self.counts["ignored"] += 1
        log.info("ignored s3://%s/%s: %s", event.bucket, event.key, why)
        return "ignored"

    def _dead_letter(self, message: Mapping[str, Any], reason: str) -> None:
        if self.dead_letter_url is None:
            # Without a DLQ the message would come back forever; it is logged above, so drop it.
            log.error("no dead-letter queue for %s; message %s dropped", self.queue_url, reason)
        else:
            self.sqs.send_message(
                QueueUrl=self.dead_letter_url,
                MessageBody=message["Body"],
                MessageAttributes={
                    ERROR_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:256]}
                },
            )
        self._delete(message)

    def _delete(self, message: Mapping[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run(self, stopping: threading.Event) -> None:
        """Poll until `stopping` is set; errors talking to SQS are logged and retried."""
        log.info("ingesting s3://%s/%s events from %s", self.bucket, self.prefix, self.queue_url)
        while not stopping.is_set():
            try:
                for message in self.receive():
                    self.handle(message)
            except (BotoCoreError, ClientError):
                log.exception("SQS call failed; retrying")
                stopping.wait(2)
        log.info("ingest stopped: %s", dict(self.counts))


def _queue_url(sqs: SQSClient, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def dead_letter_queue(sqs: SQSClient, queue_url: str) -> str | None:
    """The URL of the queue's dead-letter queue, from its redrive policy; None without one."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy = attributes.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        log.warning("%s has no redrive policy: malformed messages will be dropped", queue_url)
        return None
    arn = json.loads(policy)["deadLetterTargetArn"]
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def install_signal_handlers(stopping: threading.Event) -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():  # asked twice: leave now, whatever the poll brings
            raise SystemExit(128 + signum)
        log.info("signal %d: stopping after the current poll", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = current()
        logs.configure(settings, sys.stdout)
        from app.jobs import CeleryJobQueue

        ingestor = Ingestor.from_settings(settings, CeleryJobQueue().object_created)
    except SettingsError as exc:
        print(f"imagepipe ingest: configuration error: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    install_signal_handlers(stopping)
    ingestor.run(stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
