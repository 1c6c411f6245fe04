"""Viewer-request handler: public URL -> S3 key + cache-key header, or an edge 400/404."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edge.viewer_request import handler
from tests.edge.cloudfront_events import header_value, viewer_request_event

CHROME = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
}
SAFARI_16_2 = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.2 Mobile/15E148 Safari/604.1",
    "Accept": "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
}
ID = "Ab3_x-9"


def run(uri: str, querystring: str = "", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return handler(viewer_request_event(uri, querystring, headers), None)


def assert_edge_error(result: dict[str, Any], status: str) -> None:
    """A response generated at the edge (not a forwarded request), never cached."""
    assert "uri" not in result
    assert result["status"] == status
    assert result["statusDescription"] == {"400": "Bad Request", "404": "Not Found"}[status]
    assert header_value(result["headers"], "cache-control") == "no-store"
    assert header_value(result["headers"], "content-type") == "text/plain; charset=utf-8"
    assert isinstance(result["body"], str)
    assert result["body"]


# --- rewriting -------------------------------------------------------------------------


def test_auto_url_is_rewritten_to_the_negotiated_key() -> None:
    hints = {"Sec-CH-DPR": "2", "Sec-CH-Viewport-Width": "320", "ECT": "4g"}
    request = run(f"/i/{ID}", headers=CHROME | hints)
    assert request["uri"] == f"/{ID}/640.avif"
    assert header_value(request["headers"], "x-imagepipe-variant") == "avif.640.4g"
    assert request["headers"]["x-imagepipe-variant"][0]["key"] == "X-Imagepipe-Variant"


# A phone: 360 CSS px at DPR 2 = 720 device px: the phone slot 720.avif on 4g (edge.widths),
# 640 in WebP and JPEG; a weak network starts from the covering slot 1280 and steps down.
PHONE = {"Sec-CH-DPR": "2", "Sec-CH-Viewport-Width": "360"}


@pytest.mark.parametrize(
    ("headers", "querystring", "name", "cache_key"),
    [
        # A weak network or Save-Data steps 1280 down to 640, served as its 640-lq rendition.
        (CHROME | PHONE | {"ECT": "3g"}, "", "640-lq.avif", "avif.640-lq.3g"),
        (CHROME | PHONE | {"RTT": "300"}, "", "640-lq.avif", "avif.640-lq.3g"),
        (CHROME | PHONE | {"Save-Data": "on"}, "", "640-lq.avif", "avif.640-lq.unknown"),
        (SAFARI_16_2 | PHONE | {"ECT": "3g"}, "", "640-lq.webp", "webp.640-lq.3g"),
        (PHONE | {"ECT": "3g"}, "mw=1280", "640-lq.jpg", "jpg.640-lq.3g"),  # curl
        (CHROME | PHONE | {"ECT": "3g"}, "f=webp", "640-lq.webp", "webp.640-lq.3g"),
        # Not on 4g (the phone slot 720.avif; 640 in WebP); not with an explicit w; not when
        # the image has no 640-lq (mw=320).
        (CHROME | PHONE | {"ECT": "4g"}, "", "720.avif", "avif.720.4g"),
        (CHROME | PHONE, "", "720.avif", "avif.720.unknown"),
        (CHROME | PHONE, "mw=640", "640.avif", "avif.640.unknown"),  # no phone slot below 1280
        (SAFARI_16_2 | PHONE | {"ECT": "4g"}, "", "640.webp", "webp.640.4g"),
        (CHROME | PHONE | {"ECT": "3g"}, "w=640", "640.avif", "avif.640.3g"),
        (CHROME | PHONE | {"ECT": "3g"}, "mw=320", "320.avif", "avif.320.3g"),
    ],
)
def test_phone_on_a_weak_network_gets_the_640_lq_key(
    headers: dict[str, str], querystring: str, name: str, cache_key: str
) -> None:
    request = run(f"/i/{ID}", querystring, headers)
    assert request["uri"] == f"/{ID}/{name}"
    assert request["headers"]["x-imagepipe-variant"] == [
        {"key": "X-Imagepipe-Variant", "value": cache_key}
    ]
    assert request["querystring"] == querystring


def test_nothing_else_in_the_request_is_removed() -> None:
    event = viewer_request_event(f"/i/{ID}", "mw=1280&w=640", CHROME | {"Save-Data": "on"})
    before = copy.deepcopy(event["Records"][0]["cf"]["request"])
    after = handler(event, None)
    assert set(after) == set(before)
    assert after["querystring"] == before["querystring"]
    assert after["method"] == before["method"]
    for name, entries in before["headers"].items():
        assert after["headers"][name] == entries
    assert set(after["headers"]) - set(before["headers"]) == {"x-imagepipe-variant"}


def test_safari_16_2_gets_webp_at_the_edge() -> None:
    assert run(f"/i/{ID}", headers=SAFARI_16_2)["uri"] == f"/{ID}/1280.webp"


def test_curl_and_missing_accept_get_jpeg() -> None:
    assert run(f"/i/{ID}", headers={"Accept": "*/*"})["uri"] == f"/{ID}/1280.jpg"
    assert run(f"/i/{ID}")["uri"] == f"/{ID}/1280.jpg"


def test_repeated_accept_headers_are_combined() -> None:
    request = run(f"/i/{ID}", headers={"Accept": ["image/webp", "*/*;q=0.8"]})
    assert request["uri"] == f"/{ID}/1280.webp"


def test_max_slot_from_the_query_caps_the_width() -> None:
    hints = CHROME | {"Sec-CH-Width": "1900"}
    assert run(f"/i/{ID}", "mw=640", hints)["uri"] == f"/{ID}/640.avif"
    assert run(f"/i/{ID}", "", hints)["uri"] == f"/{ID}/1920.avif"  # default mw=1920


def test_explicit_query_options() -> None:
    request = run(f"/i/{ID}", "w=500&f=jpeg", CHROME | {"ECT": "2g"})
    assert request["uri"] == f"/{ID}/640.jpg"
    assert header_value(request["headers"], "x-imagepipe-variant") == "jpg.640.2g"
    assert run(f"/i/{ID}", "w=5000&mw=1280", CHROME)["uri"] == f"/{ID}/1280.avif"


def test_explicit_name_is_served_as_is() -> None:
    request = run(f"/i/{ID}/160-lq.webp", "", CHROME | {"ECT": "4g", "Sec-CH-Width": "1900"})
    assert request["uri"] == f"/{ID}/160-lq.webp"
    assert header_value(request["headers"], "x-imagepipe-variant") == "webp.160-lq.unknown"
    request = run(f"/i/{ID}/640-lq.jpg", "", CHROME | {"ECT": "4g"})
    assert request["uri"] == f"/{ID}/640-lq.jpg"
    assert header_value(request["headers"], "x-imagepipe-variant") == "jpg.640-lq.unknown"
    # mw is allowed (the API may always write it) and does not change a named variant.
    assert run(f"/i/{ID}/1920.jpg", "mw=640")["uri"] == f"/{ID}/1920.jpg"


def test_a_viewer_cannot_choose_its_own_cache_key() -> None:
    forged = CHROME | {"X-Imagepipe-Variant": "jpg.1920.4g", "Sec-CH-Width": "300"}
    request = run(f"/i/{ID}", headers=forged)
    assert request["headers"]["x-imagepipe-variant"] == [
        {"key": "X-Imagepipe-Variant", "value": "avif.320.unknown"}
    ]


def test_signed_url_parameters_are_allowed_and_kept() -> None:
    signed = "w=640&Expires=1767225600&Signature=abc~def_&Key-Pair-Id=K2JCJMDEHXQW5F"
    request = run(f"/i/{ID}", signed, CHROME)
    assert request["uri"] == f"/{ID}/640.avif"
    assert request["querystring"] == signed
    policy = "Policy=eyJTdGF0ZW1lbnQiOltdfQ__&Signature=x&Key-Pair-Id=K"
    assert run(f"/i/{ID}/640.jpg", policy)["uri"] == f"/{ID}/640.jpg"


def test_sixty_four_character_id_is_accepted() -> None:
    long_id = "a" * 64
    assert run(f"/i/{long_id}")["uri"] == f"/{long_id}/1280.jpg"


# --- edge-generated errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "/i/",
        "/i",
        "/",
        "/i/abc$",
        "/i/" + "a" * 65,
        "/i/abc.def",
        "/i/abc/",
        "/i/abc/640.webp/x",
        "/i/../secret",
        "/i/%2e%2e",
        "/x/abc",
        "/abc/640.webp",
        "/i/ab c",
        "/i/é",
    ],
)
def test_bad_image_ids_get_a_400(uri: str) -> None:
    assert_edge_error(run(uri), "400")


@pytest.mark.parametrize(
    ("querystring", "message"),
    [
        ("size=large", "'size'"),
        ("W=640", "'W'"),
        ("w=640&w=320", "twice"),
        ("w=abc", "'w'"),
        ("w=0", "'w'"),
        ("w=-1", "'w'"),
        ("f=png", "'f'"),
        ("mw=1000", "'mw'"),
        ("mw=", "'mw'"),
        ("mw=160", "'mw'"),
        ("&".join(f"w{i}=1" for i in range(40)), "too many"),
    ],
)
def test_bad_query_gets_a_400_naming_the_problem(querystring: str, message: str) -> None:
    result = run(f"/i/{ID}", querystring, CHROME)
    assert_edge_error(result, "400")
    assert message in result["body"]


def test_name_plus_explicit_options_is_a_400() -> None:
    assert_edge_error(run(f"/i/{ID}/640.webp", "w=320"), "400")
    assert_edge_error(run(f"/i/{ID}/640.webp", "f=jpg"), "400")


def test_unknown_key_is_a_400_even_with_a_name() -> None:
    result = run(f"/i/{ID}/640.webp", "size=large")
    assert_edge_error(result, "400")
    assert "'size'" in result["body"]


@pytest.mark.parametrize(
    "name",
    [
        "641.webp",
        "640.png",
        "640.jpeg",
        "160.jpg",
        "2560.avif",
        "original",
        "640",
        "320-lq.webp",
        "1280-lq.avif",
        "640-LQ.avif",
    ],
)
def test_unknown_variant_names_get_a_404(name: str) -> None:
    assert_edge_error(run(f"/i/{ID}/{name}"), "404")
