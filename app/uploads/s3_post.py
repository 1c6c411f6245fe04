"""Direct uploads to S3: a presigned POST for every upload, plus multipart for large originals.

The POST policy binds the exact key, `Content-Type`, server-side encryption, a short expiry and
`content-length-range` [1, declared size capped at the limit]; S3 enforces it. Above the
multipart threshold the ticket also carries presigned `UploadPart` URLs, one per part, each
signed with its exact `Content-Length`. A client that prefers them PUTs the parts (a failed part
is simply PUT again to the same URL) and then calls `POST /upload/{image_id}/complete` with
their ETags. A client that does not, posts the form as usual; the unused multipart upload is
aborted by the bucket's lifecycle rule (app/ops/provision.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from app import aws
from app.settings import Settings
from app.storage.base import StorageUnavailable, check_key
from app.timestamps import iso_utc
from app.uploads.policy import UploadRejected, UploadTicket

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SERVER_SIDE_ENCRYPTION: Literal["AES256"] = "AES256"
MAX_PARTS = 10_000  # S3's limit
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's limit for every part but the last


class S3PostSigner:
    """Implements the UploadSigner Protocol (app/uploads/policy.py) for an s3:// originals store."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        *,
        ttl_seconds: int,
        limit_bytes: int,
        multipart_threshold: int,
        part_bytes: int,
        complete_url: str,
    ) -> None:
        """complete_url is a template with `{key}`, e.g. `https://api/upload/{key}/complete`."""
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"parts must be at least {MIN_PART_BYTES} bytes (S3's minimum)")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.ttl_seconds = ttl_seconds
        self.limit_bytes = limit_bytes
        self.multipart_threshold = multipart_threshold
        self.part_bytes = part_bytes
        self.complete_url = complete_url

    @classmethod
    def from_settings(
        cls, settings: Settings, *, location: aws.AwsLocation | None = None
    ) -> S3PostSigner:
        bucket, prefix = aws.split_s3_url(settings.originals_url)
        return cls(
            aws.s3_client(location or aws.AwsLocation.from_settings(settings)),
            bucket,
            prefix,
            ttl_seconds=settings.upload_ttl_seconds,
            limit_bytes=settings.max_upload_bytes,
            multipart_threshold=settings.multipart_threshold_bytes,
            part_bytes=settings.multipart_part_bytes,
            complete_url=f"{settings.public_base_url}/upload/{{key}}/complete",
        )

    def object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def presign(self, key: str, content_type: str, max_bytes: int) -> UploadTicket:
        size = min(max_bytes, self.limit_bytes)
        if size < 1:
            raise ValueError("an upload has at least one byte")
        name = self.object_key(key)
        fixed = {
            "Content-Type": content_type,
            "x-amz-server-side-encryption": SERVER_SIDE_ENCRYPTION,
        }
        expires = int(time.time()) + self.ttl_seconds
        with _errors():
            post = self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=name,  # boto3 adds the exact {"key": ...} and {"bucket": ...} conditions
                Fields=fixed,
                Conditions=[
                    {"Content-Type": content_type},
                    {"x-amz-server-side-encryption": SERVER_SIDE_ENCRYPTION},
                    ["content-length-range", 1, size],
                ],
                ExpiresIn=self.ttl_seconds,
            )
        extra: dict[str, Any] = {}
        if size > self.multipart_threshold:
            extra["multipart"] = self._multipart(key, name, content_type, size, expires)
        return UploadTicket(
            method="POST",
            url=post["url"],
            fields={k: str(v) for k, v in post["fields"].items()},
            expires_at=iso_utc(expires),
            max_bytes=size,
            extra=extra,
        )

    def _multipart(
        self, key: str, name: str, content_type: str, size: int, expires: int
    ) -> dict[str, Any]:
        part_bytes = max(self.part_bytes, math.ceil(size / MAX_PARTS))
        with _errors():
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                ContentType=content_type,
                ServerSideEncryption=SERVER_SIDE_ENCRYPTION,
            )["UploadId"]
            parts = []
            for number, offset in enumerate(range(0, size, part_bytes), start=1):
                length = min(part_bytes, size - offset)
                url = self.client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": name,
                        "UploadId": upload_id,
                        "PartNumber": number,
                        # Signed: S3 refuses a part of any other length.
                        "ContentLength": length,
                    },
                    ExpiresIn=self.ttl_seconds,
                )
                parts.append({"part_number": number, "url": url, "size": length})
        return {
            "upload_id": upload_id,
            "part_size": part_bytes,
            "parts": parts,
            "complete_url": self.complete_url.format(key=key),
            "expires_at": iso_utc(expires),
        }

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> int:
        """Join the uploaded parts, (part number, ETag) each; S3 then raises ObjectCreated.

        Returns the original's size in bytes. UploadRejected: 404 for an unknown or finished
        upload, 400 for missing or wrong parts, 413 when the parts add up to more than the limit
        (the upload is then aborted).
        """
        name = self.object_key(key)
        numbers = [number for number, _ in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise UploadRejected(
                400, "invalid_parts", "list each part once, in ascending part_number order"
            )
        with _upload_errors():
            pages = self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=name, UploadId=upload_id
            )
            uploaded = {p["PartNumber"]: p["Size"] for page in pages for p in page.get("Parts", [])}
        missing = [n for n in numbers if n not in uploaded]
        if missing:
            raise UploadRejected(400, "missing_parts", f"parts {missing} were not uploaded")
        total = sum(uploaded[n] for n in numbers)
        if total > self.limit_bytes:
            with _upload_errors():
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise UploadRejected(
                413,
                "entity_too_large",
                f"the parts add up to {total} bytes; the limit is {self.limit_bytes}",
            )
        with _upload_errors():
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": _quoted(etag)} for n, etag in parts]
                },
            )
        return total


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _snake(code: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in code).lstrip("_")


_CLIENT_MISTAKES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})


@contextmanager
def _upload_errors() -> Iterator[None]:
    """S3's answers about a client's multipart upload, as the API's upload errors."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchUpload":
            raise UploadRejected(404, "no_such_upload", "no such multipart upload") from None
        if code in _CLIENT_MISTAKES:
            raise UploadRejected(400, _snake(code), str(error.get("Message", code))) from None
        raise StorageUnavailable(f"the originals bucket failed: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"the originals bucket failed: {exc}") from exc


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise StorageUnavailable(f"the originals bucket failed: {exc}") from exc
