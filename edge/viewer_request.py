"""Lambda@Edge viewer-request: turn a public image URL into the S3 key of one variant.

Public forms: ``/i/{image_id}`` (negotiated) and ``/i/{image_id}/{name}`` (explicit
variant name). Query keys: ``w`` and ``f`` (explicit choice, auto form only), ``mw``
(the image's largest slot, written into the URL by the API; default 1920) and
CloudFront's signed-URL keys, which CloudFront itself has already checked.

The handler rewrites ``request["uri"]`` to ``/{image_id}/{name}`` and sets
``x-imagepipe-variant`` (the normalised :meth:`Choice.cache_key`), the only header in
the cache policy. Bad ids, options and values get a 400 and unknown names a 404,
generated here with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qsl

from edge import CfHeaders, flatten_headers, set_header
from edge.negotiate import Choice, negotiate
from edge.variants import (
    DEFAULT_MAX_SLOT,
    IMAGE_ID,
    PUBLIC_PREFIX,
    SIGNING_KEYS,
    SLOTS,
    parse_name,
    standard_set,
)

VARIANT_HEADER: Final = "X-Imagepipe-Variant"

_URI: Final = re.compile(f"{PUBLIC_PREFIX}(?P<image_id>{IMAGE_ID})(?:/(?P<name>[^/]+))?")
_EXPLICIT_OPTIONS: Final = frozenset({"w", "f"})
_KNOWN_KEYS: Final = _EXPLICIT_OPTIONS | {"mw"} | SIGNING_KEYS
_MAX_QUERY_FIELDS: Final = 16
_REASONS: Final = {400: "Bad Request", 404: "Not Found"}


class _Reject(Exception):
    """A request answered at the edge with ``status``; the message is the body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Rewrite the request to its variant's key, or answer it with a 400/404."""
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    try:
        image_id, choice = _resolve(request)
    except _Reject as reject:
        return error_response(reject.status, reject.message)
    request["uri"] = f"/{image_id}/{choice.variant.name}"
    # Always overwrite: a viewer must not pick its own cache entry.
    set_header(request.setdefault("headers", {}), VARIANT_HEADER, choice.cache_key())
    return request


def _resolve(request: dict[str, Any]) -> tuple[str, Choice]:
    match = _URI.fullmatch(request.get("uri", ""))
    if match is None:
        raise _Reject(400, "invalid image URL")
    query = _parse_query(request.get("querystring", ""))
    max_slot = _max_slot(query.pop("mw", None))
    if match["name"] is not None:
        return match["image_id"], _named_choice(match["name"], query)
    options = {k: v for k, v in query.items() if k in _EXPLICIT_OPTIONS}
    headers = flatten_headers(request.get("headers", {}))
    try:
        return match["image_id"], negotiate(headers, standard_set(max_slot), options)
    except ValueError as exc:
        raise _Reject(400, str(exc)) from exc


def _parse_query(querystring: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(querystring, keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS)
    except ValueError as exc:
        raise _Reject(400, "too many query parameters") from exc
    query: dict[str, str] = {}
    for key, value in pairs:
        if key not in _KNOWN_KEYS:
            raise _Reject(400, f"unknown option {key[:32]!r}")
        if key in query:
            raise _Reject(400, f"option {key!r} given twice")
        query[key] = value
    return query


def _max_slot(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_MAX_SLOT
    slot = next((s for s in SLOTS if str(s) == raw), None)
    if slot is None:
        raise _Reject(400, f"option 'mw' must be one of {', '.join(map(str, SLOTS))}")
    return slot


def _named_choice(name: str, query: dict[str, str]) -> Choice:
    if _EXPLICIT_OPTIONS & query.keys():
        raise _Reject(400, "options 'w' and 'f' cannot be combined with a variant name")
    variant = parse_name(name)
    if variant is None:
        raise _Reject(404, "no such variant")
    # The name alone fixes the object; the class is not measured, to keep keys few.
    return Choice(variant, network_class="unknown")


def error_response(status: int, message: str) -> dict[str, Any]:
    """A response generated at the edge: never cached, plain text, not sniffed."""
    headers: CfHeaders = {}
    set_header(headers, "Cache-Control", "no-store")
    set_header(headers, "Content-Type", "text/plain; charset=utf-8")
    set_header(headers, "X-Content-Type-Options", "nosniff")
    return {
        "status": str(status),
        "statusDescription": _REASONS[status],
        "headers": headers,
        "body": message,
    }
