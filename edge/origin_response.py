"""Lambda@Edge origin-response: delivery headers, and fallbacks for missing variants.

The request URI here is the S3 key written by the viewer-request, ``/{image_id}/{name}``.

* 200/206/304 for a variant: :func:`response_headers` (a year, immutable; ``Vary`` on
  every negotiation input; the Client Hints the edge reads; ``Content-Type`` from the
  name's extension).
* 403/404 (S3 answers 403 for a missing key in a private bucket): a 302 to the next
  variant of :func:`fallback_name` -- a non-JPEG goes to the same rung's ``.jpg``, a
  missing slot's ``.jpg`` to the next smaller slot's ``.jpg`` -- or a 404 when no JPEG
  is left to try. Both with ``Cache-Control: no-store``.
* Any other 4xx/5xx: ``Cache-Control: no-store`` -- errors are never cached long.

With the stack's origin group, the variants bucket's 403/404 makes CloudFront ask the API's
render route instead (a variant left to its first request), and this function sees that
origin's response: a 200 with the variant, or a 404 for a name the image does not have (the
fallback above), or a 409/503 (no-store). While an image is processing, that 200 may carry a
stored variant standing in for one not made yet (``X-Imagepipe-Stand-In``: app/stand_in.py):
its own ``Content-Type`` and ``no-store`` are kept.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from edge import CfHeaders, set_header, to_cf_headers
from edge.variants import (
    IMAGE_ID,
    IMMUTABLE_CACHE_CONTROL,
    LOW,
    PHONE,
    PUBLIC_PREFIX,
    SIGNING_KEYS,
    SLOTS,
    STAND_IN_HEADER,
    Variant,
    parse_name,
)

NO_STORE: Final = "no-store"
# The negotiation inputs, so shared caches beyond CloudFront (whose own cache key is the
# rewritten URI plus x-imagepipe-variant) never mix variants. User-Agent (only read for
# the Safari 16.0-16.3 AVIF rule) is left out: varying on it would defeat shared caches.
VARY: Final = (
    "Accept, Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width, Save-Data, ECT, Downlink, RTT"
)
ACCEPT_CH: Final = "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width, ECT, Downlink, RTT, Save-Data"
# Browsers honour Critical-CH (retry with the hints) on top-level navigations only.
CRITICAL_CH: Final = "Sec-CH-DPR, Sec-CH-Width"

_SUCCESS: Final = frozenset({200, 206, 304})
_MISSING: Final = frozenset({403, 404})
_KEY: Final = re.compile(f"/(?P<image_id>{IMAGE_ID})/(?P<name>[^/]+)")


def response_headers(variant: Variant) -> dict[str, str]:
    """The delivery headers of a variant (plain names), shared with the local route."""
    return {
        "Cache-Control": IMMUTABLE_CACHE_CONTROL,
        "Content-Type": variant.content_type,
        "Vary": VARY,
        "Accept-CH": ACCEPT_CH,
        "Critical-CH": CRITICAL_CH,
    }


def fallback_name(variant: Variant) -> str | None:
    """The variant to redirect to when ``variant`` is missing, or ``None`` (a 404).

    Each step is strictly "more basic" (format to JPEG, then a smaller slot), so the
    redirect chain always ends: at worst avif -> jpg -> ... -> 320.jpg -> 404 (a 640-lq
    variant goes to the same format's 640 first: 640-lq.avif -> 640.avif -> 640.jpg, and
    so does the phone slot: 720.avif -> 640.avif).
    """
    if variant.tier == LOW and variant.width in SLOTS:
        # 640-lq.avif -> 640.avif: the same picture at the standard quality (an image made
        # before the weak tier existed has it), one redirect on a weak network.
        return f"{variant.width}.{variant.format}"
    if variant.tier == PHONE:
        # 720.avif -> 640.avif: what the phone was served before the slot existed (an image
        # processed before it has no 720).
        return f"{max(slot for slot in SLOTS if slot < variant.width)}.{variant.format}"
    if variant.format != "jpg":
        return f"{variant.stem}.jpg"
    # The 160-lq tier is below every slot, so its JPEG has nothing smaller to fall to.
    smaller = [slot for slot in SLOTS if slot < variant.width]
    return f"{smaller[-1]}.jpg" if smaller else None


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Add delivery headers to a variant, or turn a missing one into a 302/404."""
    cf = event["Records"][0]["cf"]
    request: dict[str, Any] = cf["request"]
    response: dict[str, Any] = cf["response"]
    status = _status(response)
    target = _parse_key(request.get("uri", ""))
    headers: CfHeaders = response.setdefault("headers", {})
    if status in _SUCCESS and STAND_IN_HEADER.lower() in headers:
        # The render origin served a stored variant for one its image has not made yet: the
        # origin's type and no-store stand, so the name asked for is not cached with it.
        set_header(headers, "Cache-Control", NO_STORE)
    elif status in _SUCCESS and target is not None:
        _apply(headers, _success_headers(target[1], status))
    elif status in _MISSING:
        _answer_missing(response, target, request.get("querystring", ""))
    elif status >= 400:
        set_header(headers, "Cache-Control", NO_STORE)
    return response


def _status(response: dict[str, Any]) -> int:
    try:
        return int(response.get("status", 0))
    except (TypeError, ValueError):
        return 0


def _parse_key(uri: str) -> tuple[str, Variant] | None:
    match = _KEY.fullmatch(uri)
    variant = None if match is None else parse_name(match["name"])
    return None if match is None or variant is None else (match["image_id"], variant)


def _success_headers(variant: Variant, status: int) -> dict[str, str]:
    headers = response_headers(variant)
    if status == 304:
        del headers["Content-Type"]  # a 304 has no body to describe
    return headers


def _apply(headers: CfHeaders, plain: dict[str, str]) -> None:
    headers.update(to_cf_headers(plain))


def _answer_missing(
    response: dict[str, Any], target: tuple[str, Variant] | None, querystring: str
) -> None:
    name = None if target is None else fallback_name(target[1])
    headers: CfHeaders = response["headers"]
    set_header(headers, "Cache-Control", NO_STORE)
    if target is None or name is None:
        response.update(status="404", statusDescription="Not Found", body="not found")
        set_header(headers, "Content-Type", "text/plain; charset=utf-8")
        return
    location = f"{PUBLIC_PREFIX}{target[0]}/{name}{_signing_query(querystring)}"
    response.update(status="302", statusDescription="Found", body="")
    set_header(headers, "Location", location)
    headers.pop("content-type", None)  # the origin's error body type no longer applies


def _signing_query(querystring: str) -> str:
    """Carry CloudFront's signed-URL parameters over to the fallback URL, if forwarded."""
    try:
        pairs = parse_qsl(querystring, max_num_fields=16)
    except ValueError:  # the viewer-request already refused such a query
        pairs = []
    kept = [(key, value) for key, value in pairs if key in SIGNING_KEYS]
    return f"?{urlencode(kept)}" if kept else ""
