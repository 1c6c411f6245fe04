"""Origin-response handler: delivery headers, JPEG fallbacks for missing variants, and
no long caching for errors."""

from __future__ import annotations

from typing import Any

import pytest

from edge.origin_response import fallback_name, handler, response_headers
from edge.variants import SLOTS, all_names, parse_name
from tests.edge.cloudfront_events import header_value, origin_response_event

ID = "img_42"
IMMUTABLE = "public, max-age=31536000, immutable"


def run(
    key_uri: str, status: int, querystring: str = "", extra: dict[str, str] | None = None
) -> dict[str, Any]:
    return handler(origin_response_event(key_uri, status, querystring, extra), None)


def header(response: dict[str, Any], name: str) -> str | None:
    return header_value(response["headers"], name)


def comma_list(value: str | None) -> list[str]:
    assert value is not None
    return [item.strip() for item in value.split(",")]


# --- successful responses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("640.avif", "image/avif"),
        ("1920.webp", "image/webp"),
        ("320.jpg", "image/jpeg"),
        ("160-lq.avif", "image/avif"),
        ("160-lq.jpg", "image/jpeg"),
        ("640-lq.avif", "image/avif"),
        ("640-lq.webp", "image/webp"),
        ("640-lq.jpg", "image/jpeg"),
    ],
)
def test_200_gets_immutable_caching_and_the_type_of_its_extension(
    name: str, content_type: str
) -> None:
    response = run(f"/{ID}/{name}", 200)
    assert response["status"] == "200"
    assert header(response, "cache-control") == IMMUTABLE
    # S3 said binary/octet-stream; the extension decides.
    assert header(response, "content-type") == content_type
    assert comma_list(header(response, "vary")) == [
        "Accept",
        "Sec-CH-DPR",
        "Sec-CH-Width",
        "Sec-CH-Viewport-Width",
        "Save-Data",
        "ECT",
        "Downlink",
        "RTT",
    ]
    assert comma_list(header(response, "accept-ch")) == [
        "Sec-CH-DPR",
        "Sec-CH-Width",
        "Sec-CH-Viewport-Width",
        "ECT",
        "Downlink",
        "RTT",
        "Save-Data",
    ]
    assert comma_list(header(response, "critical-ch")) == ["Sec-CH-DPR", "Sec-CH-Width"]


def test_handler_headers_are_exactly_response_headers() -> None:
    variant = parse_name("1280.webp")
    assert variant is not None
    expected = response_headers(variant)
    assert expected == {
        "Cache-Control": IMMUTABLE,
        "Content-Type": "image/webp",
        "Vary": "Accept, Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width, Save-Data, ECT, "
        "Downlink, RTT",
        "Accept-CH": "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width, ECT, Downlink, RTT, "
        "Save-Data",
        "Critical-CH": "Sec-CH-DPR, Sec-CH-Width",
    }
    response = run(f"/{ID}/1280.webp", 200)
    for name, value in expected.items():
        assert response["headers"][name.lower()] == [{"key": name, "value": value}]


def test_hint_headers_are_consistent() -> None:
    variant = parse_name("640.jpg")
    assert variant is not None
    headers = response_headers(variant)
    accept_ch = set(comma_list(headers["Accept-CH"]))
    # Critical hints must also be requested, and every requested hint is varied on.
    assert set(comma_list(headers["Critical-CH"])) <= accept_ch
    assert accept_ch <= set(comma_list(headers["Vary"]))


def test_origin_headers_are_kept_and_read_only_ones_untouched() -> None:
    response = run(f"/{ID}/640.webp", 200, extra={"ETag": '"abc"'})
    assert header(response, "etag") == '"abc"'
    assert header(response, "via") == "1.1 abc.cloudfront.net (CloudFront)"
    assert header(response, "x-amz-request-id") == "EXAMPLE123"


def test_304_refreshes_caching_headers_without_a_content_type() -> None:
    response = run(f"/{ID}/640.webp", 304)
    assert response["status"] == "304"
    assert header(response, "cache-control") == IMMUTABLE
    assert header(response, "vary") is not None
    assert header(response, "content-type") is None


def test_200_for_a_key_outside_the_fixed_set_is_left_alone() -> None:
    response = run(f"/{ID}/original.png", 200, extra={"Cache-Control": "max-age=60"})
    assert header(response, "cache-control") == "max-age=60"
    assert header(response, "content-type") == "binary/octet-stream"


# --- missing variants -------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.parametrize(
    ("name", "location"),
    [
        ("640.avif", "640.jpg"),
        ("1920.webp", "1920.jpg"),
        ("160-lq.avif", "160-lq.jpg"),
        ("160-lq.webp", "160-lq.jpg"),
        ("1920.jpg", "1280.jpg"),  # the width itself is missing
        ("640.jpg", "320.jpg"),
        ("640-lq.avif", "640.avif"),  # the same format at its slot's standard quality
        ("640-lq.webp", "640.webp"),
        ("640-lq.jpg", "640.jpg"),  # its slot's standard JPEG, not a smaller slot
    ],
)
def test_missing_variant_redirects_to_a_more_basic_one(
    status: int, name: str, location: str
) -> None:
    response = run(f"/{ID}/{name}", status)
    assert response["status"] == "302"
    assert response["statusDescription"] == "Found"
    assert header(response, "location") == f"/i/{ID}/{location}"
    assert header(response, "cache-control") == "no-store"
    assert response["body"] == ""
    assert header(response, "content-type") is None  # S3's XML error type is gone


@pytest.mark.parametrize("status", [403, 404])
@pytest.mark.parametrize("name", ["320.jpg", "160-lq.jpg"])
def test_missing_last_jpeg_is_a_404(status: int, name: str) -> None:
    response = run(f"/{ID}/{name}", status)
    assert response["status"] == "404"
    assert header(response, "cache-control") == "no-store"
    assert header(response, "location") is None
    assert header(response, "content-type") == "text/plain; charset=utf-8"
    assert response["body"] == "not found"


@pytest.mark.parametrize("uri", [f"/{ID}/original.png", "/", f"/{ID}", "/bad id/640.jpg"])
def test_missing_non_variant_key_is_a_404(uri: str) -> None:
    response = run(uri, 403)
    assert (response["status"], header(response, "cache-control")) == ("404", "no-store")


def test_redirect_carries_signed_url_parameters_only() -> None:
    query = "mw=1280&Expires=1767225600&Signature=a~b_c&Key-Pair-Id=K2JCJMDEHXQW5F"
    response = run(f"/{ID}/1280.avif", 403, query)
    assert header(response, "location") == (
        f"/i/{ID}/1280.jpg?Expires=1767225600&Signature=a~b_c&Key-Pair-Id=K2JCJMDEHXQW5F"
    )
    assert header(run(f"/{ID}/1280.avif", 403, "mw=1280&w=640"), "location") == (
        f"/i/{ID}/1280.jpg"
    )


def chain(name: str) -> list[str]:
    """The fallback names after ``name``, following fallback_name until it gives up."""
    names: list[str] = []
    variant = parse_name(name)
    while variant is not None and (nxt := fallback_name(variant)) is not None:
        assert nxt not in [name, *names], f"cycle {[name, *names, nxt]}"
        names.append(nxt)
        variant = parse_name(nxt)
    return names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("640-lq.avif", ["640.avif", "640.jpg", "320.jpg"]),
        ("640-lq.webp", ["640.webp", "640.jpg", "320.jpg"]),
        ("640-lq.jpg", ["640.jpg", "320.jpg"]),
        ("160-lq.avif", ["160-lq.jpg"]),
        ("160-lq.jpg", []),
        ("640.avif", ["640.jpg", "320.jpg"]),
        # An image processed before the phone slot: what the phone got then, 640.avif.
        ("720.avif", ["640.avif", "640.jpg", "320.jpg"]),
        ("1920.webp", ["1920.jpg", "1280.jpg", "640.jpg", "320.jpg"]),
    ],
)
def test_fallback_chains(name: str, expected: list[str]) -> None:
    assert chain(name) == expected


def test_redirects_follow_the_640_lq_chain_with_the_signature() -> None:
    query = "Expires=1767225600&Signature=a~b_c&Key-Pair-Id=K2JCJMDEHXQW5F"
    uri, seen = f"/{ID}/640-lq.avif", []
    while (response := run(uri, 404, query))["status"] == "302":
        location = header(response, "location")
        assert location is not None
        path, _, carried = location.partition("?")
        assert carried == query
        seen.append(path)
        uri = path.removeprefix("/i")
    assert seen == [f"/i/{ID}/640.avif", f"/i/{ID}/640.jpg", f"/i/{ID}/320.jpg"]
    assert response["status"] == "404"


def test_fallback_chain_always_ends_in_a_few_basic_steps() -> None:
    for name in all_names():
        seen = [name]
        while (variant := parse_name(seen[-1])) is not None and (
            nxt := fallback_name(variant)
        ) is not None:
            assert nxt not in seen, f"cycle {[*seen, nxt]}"
            assert parse_name(nxt) is not None
            seen.append(nxt)
        assert len(seen) <= len(SLOTS) + 2
        # Every step is more basic: to the standard tier (same format), or to JPEG.
        assert all(n.endswith(".jpg") or "-lq" not in n for n in seen[1:])
        assert all(n.endswith(".jpg") for n in seen[2:])
        assert seen[-1] in {"320.jpg", "160-lq.jpg"}


# --- errors are never cached long ----------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 405, 412, 416, 429, 500, 502, 503, 504])
def test_other_errors_get_no_store(status: int) -> None:
    response = run(f"/{ID}/640.webp", status, extra={"Cache-Control": IMMUTABLE})
    assert response["status"] == str(status)
    assert header(response, "cache-control") == "no-store"


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_no_error_response_carries_long_caching(status: int) -> None:
    for name in ("640.avif", "320.jpg", "nope.gif"):
        response = run(f"/{ID}/{name}", status, extra={"Cache-Control": "max-age=86400"})
        assert int(response["status"]) >= 300
        assert header(response, "cache-control") == "no-store"


def test_a_stand_in_keeps_its_own_type_and_is_never_cached() -> None:
    """The render origin served 640.webp for 1280.avif while the image processes."""
    response = run(
        f"/{ID}/1280.avif",
        200,
        extra={"Content-Type": "image/webp", "X-Imagepipe-Stand-In": "640.webp"},
    )
    assert response["status"] == "200"
    assert header(response, "content-type") == "image/webp"
    assert header(response, "cache-control") == "no-store"
