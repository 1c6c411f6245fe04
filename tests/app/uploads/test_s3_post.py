"""The S3 presigned POST and multipart uploads (moto in process).

moto does not enforce POST policies or signed headers, so these tests read the policy and the
part URLs themselves; tests/e2e/test_aws.py proves the happy path over real HTTP.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from app.api import create_app
from app.aws import AwsLocation, s3_client
from app.catalog import Status
from app.catalog.sqlite import SQLiteCatalog
from app.services import Services
from app.settings import Settings
from app.storage.filesystem import FileBlobStore
from app.storage.s3 import S3BlobStore
from app.uploads.policy import UploadRejected
from app.uploads.s3_post import S3PostSigner
from tests.conftest import RecordingJobs, make_settings

BUCKET = "originals-bucket"
MIB = 1024 * 1024


def signer(location: AwsLocation, **overrides: Any) -> S3PostSigner:
    client = s3_client(location)
    client.create_bucket(Bucket=BUCKET)
    options: dict[str, Any] = {
        "ttl_seconds": 900,
        "limit_bytes": 50_000_000,
        "multipart_threshold": 15_000_000,
        "part_bytes": 8 * MIB,
        "complete_url": "https://api.example/upload/{key}/complete",
    } | overrides
    return S3PostSigner(client, BUCKET, "originals", **options)


def policy_of(fields: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return document


def test_the_policy_binds_every_condition(aws: AwsLocation) -> None:
    before = time.time()
    ticket = signer(aws).presign("img1", "image/jpeg", 695070)
    document = policy_of(ticket.fields)
    conditions = document["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert {"key": "originals/img1"} in conditions  # exactly this key, not a prefix
    assert {"Content-Type": "image/jpeg"} in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert ["content-length-range", 1, 695070] in conditions
    # Nothing else may vary: every other condition is a field S3's own signing adds.
    variable = [c for c in conditions if isinstance(c, list)]
    assert variable == [["content-length-range", 1, 695070]]
    expires = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + 890 <= expires.timestamp() <= time.time() + 910
    # The form carries what the policy demands, and the ticket has the embedded one's shape.
    assert ticket.fields["key"] == "originals/img1"
    assert ticket.fields["Content-Type"] == "image/jpeg"
    assert ticket.fields["x-amz-server-side-encryption"] == "AES256"
    assert ticket.url.endswith(f"/{BUCKET}") or ticket.url.startswith(f"https://{BUCKET}.")
    assert list(ticket.to_dict()) == ["method", "url", "fields", "expires_at", "max_bytes"]
    assert ticket.to_dict()["method"] == "POST"
    assert ticket.max_bytes == 695070


def test_the_length_range_is_capped_at_the_limit(aws: AwsLocation) -> None:
    ticket = signer(aws, limit_bytes=1000).presign("img1", "image/png", 5000)
    assert ["content-length-range", 1, 1000] in policy_of(ticket.fields)["conditions"]
    assert ticket.max_bytes == 1000


def test_a_form_moto_accepts_stores_the_object(aws: AwsLocation) -> None:
    s3 = signer(aws)
    ticket = s3.presign("img1", "image/jpeg", 5)
    posted = requests.post(
        ticket.url, data=ticket.fields, files={"file": ("a.jpg", b"\xff\xd8\xff\xe0x")}, timeout=10
    )
    assert posted.status_code == 204
    head = s3.client.head_object(Bucket=BUCKET, Key="originals/img1")
    assert head["ContentType"] == "image/jpeg"
    # (moto ignores the form's encryption field; the policy test above is what S3 enforces)


def test_small_uploads_get_no_multipart(aws: AwsLocation) -> None:
    assert "multipart" not in signer(aws).presign("img1", "image/jpeg", 15_000_000).to_dict()


def test_large_uploads_get_signed_part_urls(aws: AwsLocation) -> None:
    size = 20 * MIB + 123
    ticket = signer(aws).presign("big", "image/tiff", size).to_dict()
    multipart = ticket["multipart"]
    assert ticket["fields"]["key"] == "originals/big"  # the plain form still works too
    assert multipart["complete_url"] == "https://api.example/upload/big/complete"
    assert multipart["part_size"] == 8 * MIB
    parts = multipart["parts"]
    assert [p["part_number"] for p in parts] == [1, 2, 3]
    assert [p["size"] for p in parts] == [8 * MIB, 8 * MIB, 4 * MIB + 123]
    for part in parts:
        query = parse_qs(urlsplit(part["url"]).query)
        assert query["uploadId"] == [multipart["upload_id"]]
        assert query["partNumber"] == [str(part["part_number"])]
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
        assert int(query["X-Amz-Expires"][0]) == 900
    upload = s3_client(aws).list_multipart_uploads(Bucket=BUCKET)["Uploads"][0]
    assert upload["Key"] == "originals/big"


def test_parts_grow_to_stay_within_s3s_ten_thousand(aws: AwsLocation) -> None:
    size = 100_000 * 5 * MIB
    ticket = signer(aws, limit_bytes=size, part_bytes=5 * MIB).presign("huge", "image/tiff", size)
    parts = ticket.extra["multipart"]["parts"]
    assert len(parts) <= 10_000
    assert sum(p["size"] for p in parts) == size


def put_parts(ticket: dict[str, Any], data: bytes) -> list[tuple[int, str]]:
    etags, offset = [], 0
    for part in ticket["multipart"]["parts"]:
        chunk = data[offset : offset + part["size"]]
        offset += part["size"]
        response = requests.put(part["url"], data=chunk, timeout=30)
        assert response.status_code == 200
        etags.append((part["part_number"], response.headers["ETag"]))
    return etags


def test_complete_joins_the_parts_and_a_part_can_be_sent_again(aws: AwsLocation) -> None:
    s3 = signer(aws, multipart_threshold=1, part_bytes=5 * MIB)
    data = bytes(range(256)) * (24 * 1024)  # 6 MiB: two parts
    ticket = s3.presign("img", "image/jpeg", len(data)).to_dict()
    first = ticket["multipart"]["parts"][0]
    requests.put(first["url"], data=b"\0" * first["size"], timeout=30)  # a damaged try
    etags = put_parts(ticket, data)  # ... sent again to the same URL
    assert s3.complete_multipart("img", ticket["multipart"]["upload_id"], etags) == len(data)
    stored = s3.client.get_object(Bucket=BUCKET, Key="originals/img")
    assert stored["Body"].read() == data
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["ContentType"] == "image/jpeg"


@pytest.mark.parametrize(
    ("mangle", "status", "code"),
    [
        (lambda parts: parts[::-1], 400, "invalid_parts"),
        (lambda parts: parts + parts[-1:], 400, "invalid_parts"),
        (lambda parts: [*parts, (3, '"0"')], 400, "missing_parts"),
        (lambda parts: [(1, '"deadbeef"'), parts[1]], 400, "invalid_part"),
    ],
)
def test_complete_refuses_wrong_parts(
    aws: AwsLocation,
    mangle: Callable[[list[tuple[int, str]]], list[tuple[int, str]]],
    status: int,
    code: str,
) -> None:
    s3 = signer(aws, multipart_threshold=1, part_bytes=5 * MIB)
    data = b"x" * (6 * MIB)
    ticket = s3.presign("img", "image/jpeg", len(data)).to_dict()
    etags = put_parts(ticket, data)
    with pytest.raises(UploadRejected) as refused:
        s3.complete_multipart("img", ticket["multipart"]["upload_id"], mangle(etags))
    assert (refused.value.status, refused.value.code) == (status, code)


def test_parts_over_the_limit_abort_the_upload(aws: AwsLocation) -> None:
    s3 = signer(aws, multipart_threshold=1, part_bytes=5 * MIB, limit_bytes=6 * MIB)
    ticket = s3.presign("img", "image/jpeg", 6 * MIB).to_dict()
    first, second = ticket["multipart"]["parts"]
    # moto does not check the signed Content-Length that S3 would; the join still counts bytes.
    etags = []
    for part, size in ((first, 5 * MIB), (second, 3 * MIB)):
        put = requests.put(part["url"], data=b"x" * size, timeout=30)
        etags.append((part["part_number"], put.headers["ETag"]))
    upload_id = ticket["multipart"]["upload_id"]
    with pytest.raises(UploadRejected) as refused:
        s3.complete_multipart("img", upload_id, etags)
    assert refused.value.status == 413
    with pytest.raises(UploadRejected) as gone:
        s3.complete_multipart("img", upload_id, etags)
    assert gone.value.code == "no_such_upload"


def test_an_unknown_upload_id(aws: AwsLocation) -> None:
    with pytest.raises(UploadRejected) as refused:
        signer(aws).complete_multipart("img", "no-such-upload", [(1, '"x"')])
    assert (refused.value.status, refused.value.code) == (404, "no_such_upload")


# --- the API with s3:// originals ---


@pytest.fixture
def s3_api(aws: AwsLocation, tmp_path: Path) -> tuple[FlaskClient, Services, Settings]:
    settings = make_settings(
        tmp_path,
        originals_url=f"s3://{BUCKET}/originals",
        aws_region="us-east-1",
        multipart_threshold_bytes=5_000_000,
        multipart_part_bytes=5 * MIB,
    )
    client = s3_client(aws)
    client.create_bucket(Bucket=BUCKET)
    services = Services(
        settings=settings,
        originals=S3BlobStore(client, BUCKET, "originals"),
        variants=FileBlobStore(tmp_path / "variants"),
        catalog=SQLiteCatalog(tmp_path / "catalog.db"),
    )
    app = create_app(settings, services=services, jobs=RecordingJobs())
    app.testing = True
    return app.test_client(), services, settings


def test_post_upload_returns_an_s3_presigned_post(
    s3_api: tuple[FlaskClient, Services, Settings], auth: Callable[..., dict[str, str]]
) -> None:
    client, services, _ = s3_api
    response = client.post(
        "/upload",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 1234},
        headers=auth(),
    )
    assert response.status_code == 201
    body = response.get_json()
    upload = body["upload"]
    assert upload["fields"]["key"] == f"originals/{body['image_id']}"
    assert ["content-length-range", 1, 1234] in policy_of(upload["fields"])["conditions"]
    record = services.catalog.get(body["image_id"])
    assert record.original_url == f"s3://{BUCKET}/originals/{body['image_id']}"
    # There is no embedded receiver: the bytes go to the bucket.
    assert client.post("/upload/receive", data=upload["fields"]).status_code == 404


def test_the_complete_route_joins_the_callers_upload_once(
    s3_api: tuple[FlaskClient, Services, Settings], auth: Callable[..., dict[str, str]]
) -> None:
    client, services, _ = s3_api
    data = b"z" * (6 * MIB)
    body = client.post(
        "/upload",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)},
        headers=auth(),
    ).get_json()
    image_id, ticket = body["image_id"], body["upload"]
    parts = [{"part_number": n, "etag": e} for n, e in put_parts(ticket, data)]
    request = {"upload_id": ticket["multipart"]["upload_id"], "parts": parts}
    path = f"/upload/{image_id}/complete"
    assert client.post(path, json=request, headers=auth("mallory")).status_code == 404
    assert client.post(path, json=request | {"extra": 1}, headers=auth()).status_code == 400
    assert client.post(path, json=request, headers=auth()).status_code == 204
    assert services.originals.get(image_id) == data
    assert services.catalog.get(image_id).status is Status.PENDING  # S3's event starts the rest
    again = client.post(path, json=request, headers=auth())
    assert again.status_code == 404  # the upload is finished
    assert again.get_json()["error"]["code"] == "no_such_upload"


def test_the_complete_route_is_absent_for_embedded_originals(
    client: FlaskClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = client.post(
        "/upload/x/complete", json={"upload_id": "u", "parts": []}, headers=auth()
    )
    assert response.status_code == 404
