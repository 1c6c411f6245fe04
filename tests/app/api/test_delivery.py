"""GET /i/{id} and /i/{id}/{name}: stored bytes with the edge's headers, negotiated locally."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from app import processing
from app.services import Services
from app.settings import Settings
from tests.app.test_processing import run_chain, upload
from tests.conftest import make_settings, photo


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Public images: these tests are about negotiation and caching. Signed URLs for private
    # images (the default) are tested in tests/app/delivery/.
    return make_settings(tmp_path, private_images=False)


@pytest.fixture
def ready(services: Services) -> str:
    image_id = upload(services, photo("skimage_coffee.png"), "coffee")
    processing.claim(services, image_id)
    run_chain(services, image_id)
    return image_id


def test_named_variant_is_served_with_cache_headers(client: FlaskClient, ready: str) -> None:
    response = client.get(f"/i/{ready}/320.webp")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(response.data)).size == (320, 213)
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get(f"/i/{ready}/320.webp", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""


def test_auto_route_negotiates_like_the_edge(client: FlaskClient, ready: str) -> None:
    chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    avif = client.get(f"/i/{ready}", headers={"Accept": chrome, "Sec-CH-Width": "300"})
    assert avif.headers["Content-Type"] == "image/avif"
    assert avif.headers["Content-Location"] == f"/i/{ready}/320.avif"
    assert "Accept" in avif.headers["Vary"]
    plain = client.get(f"/i/{ready}", headers={"Accept": "*/*"})
    assert plain.headers["Content-Type"] == "image/jpeg"
    forced = client.get(f"/i/{ready}?f=webp&w=100")
    assert forced.headers["Content-Location"] == f"/i/{ready}/320.webp"


def test_a_phone_on_3g_gets_the_weak_network_tier(client: FlaskClient, services: Services) -> None:
    """640-lq where 640 would be served: the 3g target of docs/delivery.md, on a laptop too."""
    image_id = upload(services, photo("lomiri16_Dragonfly_by_Bolly.jpg"), "dragonfly")
    processing.claim(services, image_id)
    run_chain(services, image_id)
    phone = {
        "Accept": "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
        "Sec-CH-DPR": "2",
        "Sec-CH-Viewport-Width": "360",
    }
    served = {
        ect: client.get(f"/i/{image_id}", headers=phone | {"ECT": ect}) for ect in ("3g", "4g")
    }
    assert served["3g"].headers["Content-Location"] == f"/i/{image_id}/640-lq.avif"
    # 4g: the phone slot, 720 px encoded for DPR 2 (edge.widths), not 640 at the standard
    # quality: more pixels in fewer bytes.
    assert served["4g"].headers["Content-Location"] == f"/i/{image_id}/720.avif"
    weak, phone_slot = (Image.open(io.BytesIO(served[e].data)) for e in ("3g", "4g"))
    assert (weak.size, phone_slot.size) == ((640, 480), (720, 540))
    standard = client.get(f"/i/{image_id}/640.avif")
    assert len(served["3g"].data) < 0.8 * len(standard.data)  # same width, fewer bytes
    assert len(served["4g"].data) < len(standard.data)


def test_missing_variant_falls_back_to_a_more_basic_one(client: FlaskClient, ready: str) -> None:
    # The 600 px original has no 1280 slot: 1280.avif -> 1280.jpg -> 640.jpg (as the edge does).
    first = client.get(f"/i/{ready}/1280.avif")
    assert first.status_code == 302
    assert first.headers["Location"].endswith(f"/i/{ready}/1280.jpg")
    assert first.headers["Cache-Control"] == "no-store"
    second = client.get(f"/i/{ready}/1280.jpg")
    assert second.headers["Location"].endswith(f"/i/{ready}/640.jpg")
    assert client.get(f"/i/{ready}/640.jpg").status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/i/nope/320.webp", 404),
        ("/i/{id}/original.jpg", 404),
        ("/i/{id}/../../secret_key", 404),
        ("/i/{id}?colour=red", 400),
        ("/i/{id}?w=-5", 400),
        ("/i/{id}/320.webp?x=1", 400),
    ],
)
def test_bad_delivery_requests(client: FlaskClient, ready: str, path: str, status: int) -> None:
    response = client.get(path.replace("{id}", ready))
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
