"""BlobStore on an S3 bucket (or any S3-compatible store), selected by `s3://bucket/prefix`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from app import aws, names
from app.storage.base import (
    BlobInfo,
    BlobNotFound,
    StorageError,
    StorageUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SERVER_SIDE_ENCRYPTION: Literal["AES256"] = names.SSE_ALGORITHM  # the buckets' default too
# InvalidRange: only read_range asks for one, and past the end the recorded variant is not there.
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound", "InvalidRange"})
_UNAVAILABLE = frozenset(
    {
        "NoSuchBucket",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "503",
        "500",
    }
)
# Streams above 16 MiB go up in parts, 8 MiB at a time; nothing is read whole into memory.
_TRANSFER = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=8 * 1024**2)
_COPY_CHUNK = 1024 * 1024  # local_copy's reads from a GET's stream


class S3BlobStore:
    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    @classmethod
    def from_url(cls, url: str, *, location: aws.AwsLocation | None = None) -> S3BlobStore:
        bucket, prefix = aws.split_s3_url(url)
        return cls(aws.s3_client(location), bucket, prefix)

    def object_key(self, key: str) -> str:
        """The S3 key of a store key: the prefix, then the checked key."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def store_key(self, object_key: str) -> str | None:
        """The store key of an S3 key, or None when the key is outside this store's prefix."""
        if not self.prefix:
            return object_key
        head = f"{self.prefix}/"
        return object_key[len(head) :] if object_key.startswith(head) else None

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> BlobInfo:
        name = self.object_key(key)
        extra: dict[str, Any] = {
            "ContentType": content_type,
            "ServerSideEncryption": SERVER_SIDE_ENCRYPTION,
        }
        if cache_control:
            extra["CacheControl"] = cache_control
        with _errors(key):
            if isinstance(data, bytes | bytearray | memoryview):
                body = bytes(data)
                response = self.client.put_object(Bucket=self.bucket, Key=name, Body=body, **extra)
                return BlobInfo(
                    key=key,
                    size=len(body),
                    etag=response["ETag"].strip('"'),
                    content_type=content_type,
                )
            self.client.upload_fileobj(data, self.bucket, name, ExtraArgs=extra, Config=_TRANSFER)
        return self.stat(key)

    def get(self, key: str) -> bytes:
        with _errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
            with body:
                return body.read()

    def open(self, key: str) -> IO[bytes]:
        # S3 streams the version that was current when the GET started: an overwrite meanwhile
        # does not change what this reader sees.
        with _errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        return cast(IO[bytes], body)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        span = f"bytes={start}-{start + length - 1}"
        with _errors(key):
            got = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key), Range=span)
            with got["Body"] as body:
                data = body.read()
        if len(data) != length:  # a pack replaced by a shorter one: not what was recorded
            raise BlobNotFound(key)
        return data

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        name = self.object_key(key)
        with tempfile.TemporaryDirectory(prefix="imagepipe-") as folder:
            path = Path(folder) / name.rsplit("/", 1)[-1]
            # One GET, streamed: s3transfer's download_fileobj asks HeadObject first (a billed
            # request an image read, docs/capacity.md) to plan ranged parts an original under
            # the upload limit does not need.
            with _errors(key), path.open("wb") as out:
                body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
                with body:
                    shutil.copyfileobj(body, out, _COPY_CHUNK)
            yield path

    def stat(self, key: str) -> BlobInfo:
        with _errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        return BlobInfo(
            key=key,
            size=head["ContentLength"],
            etag=head["ETag"].strip('"'),
            content_type=head.get("ContentType"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> bool:
        # S3 answers a delete of a missing key with success, so ask first.
        if not self.exists(key):
            return False
        with _errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=full
        )
        with _errors(prefix or "/"):
            for page in pages:
                for item in page.get("Contents", []):
                    key = self.store_key(item["Key"])
                    if key is not None:
                        yield key

    def presigned_download(self, key: str, *, filename: str, ttl_seconds: int) -> str:
        """A GET URL valid for ttl_seconds that always downloads (never renders inline).

        ``filename`` must already be safe for a header (app/original_links.py makes it so).
        """
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.object_key(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": "application/octet-stream",
            },
            ExpiresIn=ttl_seconds,
        )

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"{self.url}: {exc}") from exc


@contextmanager
def _errors(key: str) -> Iterator[None]:
    """botocore's errors, as the BlobStore Protocol's domain errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise BlobNotFound(key) from None
        if code in _UNAVAILABLE:
            raise StorageUnavailable(f"{key}: {code}: {exc}") from exc
        raise StorageError(f"{key}: {code}: {exc}") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, credentials missing, ...
        raise StorageUnavailable(f"{key}: {exc}") from exc
