"""original_url: a short-lived download link for the owner, never a server or bucket path."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from app.aws import AwsLocation, s3_client
from app.catalog import ImageRecord
from app.delivery.signing import InvalidSignature
from app.original_links import LocalOriginalLinks, PresignedOriginalLinks, download_name
from app.services import Services
from app.storage.s3 import S3BlobStore
from tests.conftest import SECRET

Auth = Callable[..., dict[str, str]]


def _stored(services: Services, image_id: str = "img1", user: str = "alice") -> ImageRecord:
    services.originals.put(image_id, b"<svg onload=alert(1)>", content_type="image/jpeg")
    return services.catalog.add(services.new_record(image_id, user, "image/jpeg", "a b/..\\x.jpg"))


def test_original_url_is_a_signed_link_not_a_path(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    _stored(services)
    url = client.get("/image/img1", headers=auth("alice")).get_json()["original_url"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", "/original/img1")
    assert set(parse_qs(parts.query)) == {"exp", "sig"}
    listed = client.get("/images", headers=auth("alice")).get_json()["images"][0]
    assert listed["original_url"].startswith("http://testserver/original/img1?")


def test_the_link_downloads_the_original_never_inline(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    _stored(services)
    url = client.get("/image/img1", headers=auth("alice")).get_json()["original_url"]
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == b"<svg onload=alert(1)>"
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]


def test_a_tampered_or_unsigned_link_is_refused(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    _stored(services)
    _stored(services, "img2", "bob")
    url = client.get("/image/img1", headers=auth("alice")).get_json()["original_url"]
    assert client.get("/original/img1").status_code == 403
    assert client.get(url[:-2] + "xx").status_code == 403
    # A link is scoped to its image: alice's signature does not open bob's original.
    assert client.get(url.replace("/original/img1", "/original/img2")).status_code == 403


def test_an_expired_link_is_refused() -> None:
    now = [1_000_000.0]
    links = LocalOriginalLinks(SECRET, "http://x", ttl_seconds=300, clock=lambda: now[0])
    record = ImageRecord("img1", "alice", 0.0, "", "img1", "image/jpeg", "a.jpg")
    query = {k: v[0] for k, v in parse_qs(urlsplit(links.link(record)).query).items()}
    links.verify("img1", query)
    now[0] += 300 + 60
    with pytest.raises(InvalidSignature, match="expired"):
        links.verify("img1", query)


def test_on_s3_the_link_is_a_presigned_attachment_get(aws: AwsLocation) -> None:
    client = s3_client(aws)
    client.create_bucket(Bucket="originals")
    store = S3BlobStore(client, "originals", "o")
    store.put("img1", b"bytes", content_type="image/jpeg")
    record = ImageRecord("img1", "alice", 0.0, "", "img1", "image/jpeg", 'we"ird.jpg')
    url = PresignedOriginalLinks(store, ttl_seconds=120).link(record)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https" and "s3://" not in url
    assert parts.path.endswith("/o/img1")
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"] == ['attachment; filename="we_ird.jpg"']
    assert query["response-content-type"] == ["application/octet-stream"]


def test_download_names_are_header_safe() -> None:
    assert download_name('a"b\r\nc.jpg') == "a_b__c.jpg"
    assert download_name("../..") == "original"
