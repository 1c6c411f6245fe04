"""The one place boto3 clients are built, so every AWS adapter honours the same region and endpoint.

`AWS_ENDPOINT_URL` points every client at an S3/SQS/DynamoDB-compatible server (moto, MinIO,
LocalStack); `AWS_REGION` names the region. Left unset, boto3's own configuration chain decides
(`AWS_DEFAULT_REGION`, `~/.aws/config`, the instance role), and the region falls back to us-east-1.
Credentials always come from boto3's chain; nothing here reads or stores them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app import names
from app.settings import Settings, current

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "AwsLocation",
    "ClientError",  # re-exported: app/ops/provision.py needs no botocore of its own
    "dynamodb_client",
    "dynamodb_table_name",
    "process_location",
    "s3_client",
    "sns_client",
    "split_s3_url",
    "sqs_client",
    "task_visibility_timeout",
]

DEFAULT_REGION = "us-east-1"
RETRY_BACKOFF_MAX_SECONDS = names.RETRY_BACKOFF_MAX_SECONDS


@dataclass(frozen=True)
class AwsLocation:
    """Where the AWS APIs are: a region and, for compatible servers, an endpoint."""

    region: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsLocation:
        return cls(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)

    @property
    def region_name(self) -> str:
        return self.region or _default_region() or DEFAULT_REGION


@cache
def _default_region() -> str | None:
    """The region boto3's own chain names (AWS_DEFAULT_REGION, ~/.aws/config), if any."""
    region: str | None = boto3.session.Session().region_name
    return region


@cache
def process_location() -> AwsLocation:
    """This process's location, from its validated settings (AWS processes always have them)."""
    return AwsLocation.from_settings(current())


# One session for the process: it caches the service models, which makes a client five times
# cheaper to build. Sessions are not thread-safe (clients are), so clients are built under a lock,
# and a forked child (a Celery pool process) starts with a fresh session and lock.
_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def _reset_after_fork() -> None:
    global _session, _session_lock
    _session, _session_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _client(service: str, location: AwsLocation | None, **config: Any) -> Any:
    global _session  # noqa: PLW0603 - built once per process, on first use
    where = location or process_location()
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,  # type: ignore[call-overload]
            region_name=where.region_name,
            endpoint_url=where.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 4}, **config),
        )


def s3_client(location: AwsLocation | None = None) -> S3Client:
    # Compatible servers (MinIO, Ceph, moto) are addressed by path, not by bucket host name.
    style = "path" if (location or process_location()).endpoint_url else "auto"
    client: S3Client = _client(
        "s3", location, s3={"addressing_style": style}, signature_version="s3v4"
    )
    return client


def sqs_client(location: AwsLocation | None = None) -> SQSClient:
    # Long polls hold the connection for up to 20 s; the read timeout must outlast them.
    client: SQSClient = _client("sqs", location, read_timeout=40)
    return client


def dynamodb_client(location: AwsLocation | None = None) -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", location)
    return client


def sns_client(location: AwsLocation | None = None) -> SNSClient:
    client: SNSClient = _client("sns", location)
    return client


def task_visibility_timeout(settings: Settings) -> int:
    """Seconds an SQS task message stays hidden once a worker took it.

    Above the hard time limit plus the longest retry countdown a worker holds a message for, so
    SQS never hands a task that is still running (or waiting to retry) to a second worker.
    """
    return names.task_visibility_timeout(settings.task_time_limit)


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"the URL names no bucket: {url!r}")
    return bucket, prefix.strip("/")


def dynamodb_table_name(url: str) -> str:
    """`dynamodb://images` -> "images"."""
    if not url.startswith("dynamodb://"):
        raise ValueError(f"not a dynamodb:// URL: {url!r}")
    name = url[len("dynamodb://") :].strip("/")
    if not name or "/" in name:
        raise ValueError(f"the URL must name one table, e.g. dynamodb://images: {url!r}")
    return name
