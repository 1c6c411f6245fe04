"""Variants left to their first request, over HTTP: the embedded route and CloudFront's origin."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app import processing
from app.api import create_app
from app.aws import AwsLocation, s3_client
from app.eager import parse_eager
from app.names import RENDER_SECRET_HEADER
from app.ops.provision import provision
from app.services import Services, build_services
from app.settings import Settings
from tests.app.test_processing import processed, upload
from tests.conftest import RecordingJobs, make_settings, photo, variant_bytes

SECRET = "a-render-origin-secret-for-tests"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, private_images=False, render_origin_secret=SECRET)


def test_a_jpeg_left_to_its_first_request_is_made_by_the_delivery_route(
    client: FlaskClient, services: Services, tmp_path: Path
) -> None:
    image_id = processed(services, "storm")
    assert not services.variants.exists(f"{image_id}/1280.jpg")  # not made by processing
    first = client.get(f"/i/{image_id}/1280.jpg")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "image/jpeg"
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(first.data)).size == (1280, 853)
    assert services.variants.get(f"{image_id}/1280.jpg") == first.data  # stored
    etag = first.headers["ETag"]
    assert client.get(f"/i/{image_id}/1280.jpg", headers={"If-None-Match": etag}).status_code == 304
    # The same bytes as a run that makes every variant up front.
    eager = build_services(make_settings(tmp_path / "eager", eager_variants=parse_eager("all")))
    processed(eager, image_id)
    assert variant_bytes(eager, image_id, "1280.jpg") == first.data


def test_a_browser_without_webp_or_avif_is_served_a_jpeg_on_first_request(
    client: FlaskClient, services: Services
) -> None:
    image_id = processed(services, "storm")
    old = client.get(f"/i/{image_id}", headers={"Accept": "image/jpeg,*/*;q=0.5"})
    assert old.status_code == 200
    assert old.headers["Content-Type"] == "image/jpeg"
    name = old.headers["Content-Location"].rsplit("/", 1)[1]
    assert services.variants.exists(f"{image_id}/{name}")


def test_the_api_lists_every_variant_and_says_which_are_made_on_request(
    client: FlaskClient, services: Services, auth: Callable[[str], dict[str, str]]
) -> None:
    image_id = processed(services, "storm")
    view = client.get(f"/image/{image_id}", headers=auth("alice")).get_json()
    by_name = {v["name"]: v for v in view["variants"]}
    assert len(by_name) == 19
    assert by_name["1280.jpg"]["on_request"] is True and by_name["1280.jpg"]["bytes"] is None
    assert by_name["1280.avif"]["on_request"] is False and by_name["1280.avif"]["bytes"] > 0
    delivery = view["delivery"]
    assert "1280.jpg" in delivery["srcset"]["jpg"]  # srcset still offers every JPEG
    assert delivery["bytes"]["1280.jpg"] is None
    assert delivery["picture"]["img"]["src"].endswith("/640.jpg")


def test_a_variant_not_listed_yet_falls_back_as_before(
    client: FlaskClient, services: Services
) -> None:
    upload(services, photo("mate_Storm.jpg"), "pending")
    assert processing.claim(services, "pending")
    # Claimed, not resized: nothing is recorded yet, the variants left to request included.
    response = client.get("/i/pending/1280.jpg")
    assert response.status_code == 302  # not recorded yet: the edge's fallback, as before
    assert not services.variants.exists("pending/1280.jpg")


def test_renders_past_the_bound_answer_503_with_retry_after(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import rendering

    image_id = processed(services, "storm")

    def busy(*_: object) -> bytes:
        raise rendering.RenderBusy("full")

    monkeypatch.setattr(rendering, "_make", busy)
    response = client.get(f"/i/{image_id}/1920.jpg")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(rendering.RETRY_AFTER_SECONDS)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_render_origin_needs_cloudfronts_secret(
    client: FlaskClient, services: Services
) -> None:
    image_id = processed(services, "storm")
    path = f"/render/{image_id}/640.jpg"
    assert client.get(path).status_code == 404
    assert client.get(path, headers={RENDER_SECRET_HEADER: "wrong"}).status_code == 404
    assert not services.variants.exists(f"{image_id}/640.jpg")
    made = client.get(path, headers={RENDER_SECRET_HEADER: SECRET})
    assert made.status_code == 200
    assert made.headers["Content-Type"] == "image/jpeg"
    assert made.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept" in made.headers["Vary"]  # the edge's delivery headers
    assert services.variants.get(f"{image_id}/640.jpg") == made.data
    unknown = client.get(f"/render/{image_id}/nope.jpg", headers={RENDER_SECRET_HEADER: SECRET})
    assert unknown.status_code == 404


def test_without_a_secret_the_render_origin_does_not_exist(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, private_images=False)
    services = build_services(settings)
    app: Flask = create_app(settings, services=services, jobs=RecordingJobs())
    image_id = processed(services, "storm")
    response = app.test_client().get(
        f"/render/{image_id}/640.jpg", headers={RENDER_SECRET_HEADER: ""}
    )
    assert response.status_code == 404
    assert not services.variants.exists(f"{image_id}/640.jpg")


def test_the_render_origin_refuses_a_failed_image_with_409(
    client: FlaskClient, services: Services
) -> None:
    upload(services, photo("mate_Storm.jpg"), "broken")
    processing.fail(services, "broken", "corrupt", "test")
    response = client.get("/render/broken/640.jpg", headers={RENDER_SECRET_HEADER: SECRET})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "failed"


def test_over_aws_the_render_origin_stores_the_variant_in_the_bucket(
    tmp_path: Path, aws: AwsLocation
) -> None:
    """CloudFront's failover path on moto: S3 originals and variants, the DynamoDB catalog."""
    settings = make_settings(
        tmp_path,
        originals_url="s3://render-originals/originals",
        variants_url="s3://render-variants/variants",
        catalog_url="dynamodb://render-images",
        aws_region="us-east-1",
        private_images=False,
        render_origin_secret=SECRET,
    )
    provision(settings, aws)
    services = build_services(settings)
    image_id = processed(services, "storm")
    s3 = s3_client(aws)
    key = f"variants/{image_id}/1280.jpg"
    assert "Contents" not in s3.list_objects_v2(Bucket="render-variants", Prefix=key)
    app = create_app(settings, services=services, jobs=RecordingJobs())
    made = app.test_client().get(
        f"/render/{image_id}/1280.jpg", headers={RENDER_SECRET_HEADER: SECRET}
    )
    assert made.status_code == 200
    stored = s3.get_object(Bucket="render-variants", Key=key)
    assert stored["Body"].read() == made.data
    assert stored["ContentType"] == "image/jpeg"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    assert made.headers["ETag"].strip('"') == stored["ETag"].strip('"')


def test_while_processing_a_stored_variant_stands_in_and_nothing_is_rendered(
    client: FlaskClient, services: Services
) -> None:
    """Between the first paint and ready: CloudFront's failover and the embedded route alike."""
    upload(services, photo("mate_Storm.jpg"), "busy")
    assert processing.claim(services, "busy")
    processing.resize(services, "busy")  # the first paint only: no AVIF, no other WebP yet
    for path in ("/i/busy/1280.avif", "/render/busy/1280.avif"):
        response = client.get(path, headers={RENDER_SECRET_HEADER: SECRET})
        assert response.status_code == 200, path
        assert response.headers["X-Imagepipe-Stand-In"] == "640.webp"
        assert response.headers["Content-Type"] == "image/webp"
        assert response.headers["Cache-Control"] == "no-store"  # not kept under 1280.avif
        assert response.data == variant_bytes(services, "busy", "640.webp")
    negotiated = client.get("/i/busy", headers={"Accept": "image/avif,image/webp,*/*"})
    assert negotiated.status_code == 200
    assert negotiated.headers["Cache-Control"] == "no-store"  # the choice changes with AVIF
    processing.compress(services, "busy")
    # 1280.webp is left to its first request by default: the first paint's 640 meanwhile.
    for name in ("1280.avif", "1280.webp"):
        response = client.get(f"/i/busy/{name}")
        assert response.headers["X-Imagepipe-Stand-In"] == "640.webp", name
    assert not services.variants.exists("busy/1280.webp")  # no render while processing
    # Negotiated: the AVIFs are not recorded yet, so 1280.webp is chosen, and 640.webp served.
    chosen = client.get("/i/busy?w=1280", headers={"Accept": "image/avif,image/webp,*/*"})
    assert chosen.headers["X-Imagepipe-Stand-In"] == "640.webp"
    assert chosen.headers["Content-Location"] == "/i/busy/640.webp"  # what the bytes are
    assert chosen.headers["Cache-Control"] == "no-store"
    processing.encode(services, "busy")
    ready = client.get("/i/busy/1280.avif")
    assert ready.status_code == 200 and "X-Imagepipe-Stand-In" not in ready.headers
    assert ready.headers["Content-Type"] == "image/avif"
    assert ready.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    made = client.get("/i/busy/1280.webp")  # ready: made on its first request, as before
    assert "X-Imagepipe-Stand-In" not in made.headers
    assert services.variants.get("busy/1280.webp") == made.data
