"""The responsive manifest (`delivery` block of GET /image/{id}) on really processed images."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask.testing import FlaskClient

from app import packs, processing
from app.catalog import Status
from app.delivery.manifest import delivery_block
from app.delivery.signing import Grant
from app.services import Services
from edge.widths import suggested_sizes
from tests.app.test_processing import upload
from tests.conftest import photo

Auth = Callable[..., dict[str, str]]
VARIANT_URL = re.compile(
    r"http://testserver/i/(?P<id>[^/?]+)/(?P<name>[^/?]+)\?exp=\d+&kid=k0&sig="
)


def srcset_entries(srcset: str) -> list[tuple[str, str]]:
    """``[(variant name, descriptor)]``, checking each URL is a signed per-variant URL."""
    entries = []
    for item in srcset.split(", "):
        url, descriptor = item.split(" ")
        match = VARIANT_URL.match(url)
        assert match, url
        entries.append((match["name"], descriptor))
    return entries


def manifest(client: FlaskClient, auth: Auth, image_id: str) -> dict[str, Any]:
    response = client.get(f"/image/{image_id}", headers=auth())
    assert response.status_code == 200
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def test_manifest_of_a_1000_px_photo(
    client: FlaskClient, auth: Auth, services: Services, wide_1000: str
) -> None:
    body = manifest(client, auth, wide_1000)
    delivery = body["delivery"]
    record = services.catalog.get(wide_1000)
    # Intrinsic size: what is delivered at most (here the original's own 1000x667).
    assert (delivery["width"], delivery["height"]) == (1000, 667)
    # sizes: full width up to 1000 CSS px, with the edge's high-density rule (edge.widths).
    assert delivery["sizes"] == suggested_sizes(1000)
    assert delivery["sizes"].endswith(", (min-width: 1000px) 1000px, 100vw")
    assert (
        "(min-resolution: 2dppx) and (max-width: 1000px) calc(100vw * 0.7407)"
        in (delivery["sizes"])
    )
    # srcset per format, smallest first, with REAL widths: the 1280 slot is listed as 1000w.
    for fmt in ("avif", "webp", "jpg"):
        assert srcset_entries(delivery["srcset"][fmt]) == [
            (f"320.{fmt}", "320w"),
            (f"640.{fmt}", "640w"),
            (f"1280.{fmt}", "1000w"),
        ]
    # <picture>: AVIF, then WebP sources, then the JPEG img fallback.
    picture = delivery["picture"]
    assert [s["type"] for s in picture["sources"]] == ["image/avif", "image/webp"]
    assert [s["srcset"] for s in picture["sources"]] == [
        delivery["srcset"]["avif"],
        delivery["srcset"]["webp"],
    ]
    assert all(s["sizes"] == delivery["sizes"] for s in picture["sources"])
    img = picture["img"]
    assert img["srcset"] == delivery["srcset"]["jpg"]
    assert VARIANT_URL.match(img["src"])["name"] == "640.jpg"  # type: ignore[index]
    assert (img["width"], img["height"]) == (1000, 667)
    html = delivery["html"]
    assert html.startswith('<picture><source type="image/avif" srcset="http://testserver/i/')
    assert html.index('type="image/avif"') < html.index('type="image/webp"') < html.index("<img ")
    assert "&amp;kid=k0&amp;sig=" in html  # attribute values are escaped
    # Each variant's byte size, low tier included, exactly as stored; null for those left to
    # their first request (IMAGEPIPE_EAGER_VARIANTS), which the manifest still lists.
    assert delivery["bytes"] == {v.name: None if v.on_request else v.bytes for v in record.variants}
    assert delivery["bytes"]["640.jpg"] is None and delivery["bytes"]["640.webp"] > 0
    assert set(delivery["bytes"]) == {
        f"{stem}.{fmt}"
        for stem in ("160-lq", "640-lq", "320", "640", "1280")
        for fmt in ("avif", "webp", "jpg")
    } | {"720.avif"}
    for v in record.variants:
        if not v.on_request:
            assert len(packs.read(services.variants, v)) == delivery["bytes"][v.name]
    assert set(delivery["low"]) == {"avif", "webp", "jpg"}
    assert VARIANT_URL.match(delivery["low"]["webp"])["name"] == "160-lq.webp"  # type: ignore[index]
    # The weak-network rendition of slot 640 (what 3g is served), listed apart, not in srcset.
    assert {f: VARIANT_URL.match(u)["name"] for f, u in delivery["weak"].items()} == {  # type: ignore[index]
        fmt: f"640-lq.{fmt}" for fmt in ("avif", "webp", "jpg")
    }
    assert "640-lq" not in " ".join(delivery["srcset"].values())
    # The phone slot (720.avif, for DPR >= 2 at full strength) is the edge's choice only: a
    # browser choosing from srcset would take it at DPR 1 too.
    assert "/720.avif" not in " ".join(delivery["srcset"].values())
    # The negotiated URL names the largest slot, so the edge knows the set without a lookup.
    auto = urlsplit(delivery["auto_url"])
    assert auto.path == f"/i/{wide_1000}"
    assert auto.query.startswith("mw=1280&exp=")
    # Placeholder: inline, small, and the dominant colour.
    placeholder = delivery["placeholder"]
    assert record.placeholder is not None
    assert placeholder == {
        "data_uri": record.placeholder.data_uri,
        "thumbhash": record.placeholder.thumbhash,
    }
    assert placeholder["data_uri"].startswith("data:image/webp;base64,")
    assert len(placeholder["data_uri"]) < 700
    assert 5 <= len(base64.b64decode(placeholder["thumbhash"])) <= 25
    assert re.fullmatch(r"#[0-9a-f]{6}", delivery["dominant_color"])
    assert f"background-color:{delivery['dominant_color']}" in html


def test_slot_widths_of_a_600_px_photo(client: FlaskClient, auth: Auth, ready: str) -> None:
    delivery = manifest(client, auth, ready)["delivery"]
    assert (delivery["width"], delivery["height"]) == (600, 400)
    assert srcset_entries(delivery["srcset"]["webp"]) == [
        ("320.webp", "320w"),
        ("640.webp", "600w"),
    ]
    assert urlsplit(delivery["auto_url"]).query.startswith("mw=640&")


def test_before_avif_the_manifest_lists_what_is_stored(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    image_id = upload(services, photo("skimage_coffee.png"), "halfway")
    processing.claim(services, image_id)
    processing.resize(services, image_id)
    processing.compress(services, image_id)  # WebP + JPEG stored, AVIF not yet
    body = manifest(client, auth, image_id)
    assert body["status"] == Status.PROCESSING.value
    delivery = body["delivery"]
    assert set(delivery["srcset"]) == {"webp", "jpg"}
    assert [s["type"] for s in delivery["picture"]["sources"]] == ["image/webp"]
    assert not any(name.endswith(".avif") for name in delivery["bytes"])


def test_no_manifest_before_any_variant(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    image_id = upload(services, photo("skimage_coffee.png"), "pending")
    body = manifest(client, auth, image_id)
    assert body["status"] == "pending"
    assert body["delivery"] is None


def test_public_images_get_plain_urls(services: Services, wide_1000: str) -> None:
    record = services.catalog.get(wide_1000)
    delivery = delivery_block(record, services.delivery_url, Grant())
    assert delivery is not None
    assert delivery["expires_at"] is None
    assert delivery["picture"]["img"]["src"] == f"http://testserver/i/{wide_1000}/640.jpg"
    assert delivery["auto_url"] == f"http://testserver/i/{wide_1000}?mw=1280"
    assert "?" not in delivery["srcset"]["avif"]


def test_a_first_paint_only_manifest_falls_back_to_webp(services: Services, ready: str) -> None:
    # Between the first two compress writes only 160-lq.webp and 640.webp exist.
    record = services.catalog.get(ready)
    first = record.evolve(
        variants=tuple(v for v in record.variants if v.name in ("160-lq.webp", "640.webp"))
    )
    delivery = delivery_block(first, services.delivery_url, Grant())
    assert delivery is not None
    assert delivery["picture"]["sources"] == []
    assert delivery["picture"]["img"]["src"].endswith("/640.webp")
    assert delivery["srcset"] == {"webp": f"http://testserver/i/{ready}/640.webp 600w"}
