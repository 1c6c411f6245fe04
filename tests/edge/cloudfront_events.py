"""Builders for real CloudFront Lambda@Edge event shapes (Records[0].cf.config/request/...).

Shapes follow the CloudFront developer guide, "Lambda@Edge event structure": headers are
``{"lower-name": [{"key": "Name", "value": "..."}]}``, status is a string, and the
querystring is present (empty) even when the viewer sent none. Written independently of
``edge/`` so the tests do not validate the code with itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"
DISTRIBUTION_ID = "EDFDVBD6EXAMPLE"
BUCKET_DOMAIN = "imagepipe-variants.s3.us-east-1.amazonaws.com"

HeaderInput = Mapping[str, str | Sequence[str]]


def cf_headers(headers: HeaderInput) -> dict[str, list[dict[str, str]]]:
    """Plain headers -> CloudFront shape; a sequence value means a repeated header."""
    shaped: dict[str, list[dict[str, str]]] = {}
    for name, value in headers.items():
        values = [value] if isinstance(value, str) else list(value)
        shaped.setdefault(name.lower(), []).extend({"key": name, "value": v} for v in values)
    return shaped


def header_value(headers: Mapping[str, list[dict[str, str]]], name: str) -> str | None:
    """The single value of ``name`` in CloudFront-shaped headers (asserts it is single)."""
    entries = headers.get(name.lower())
    if entries is None:
        return None
    assert len(entries) == 1, f"{name} repeated: {entries}"
    return entries[0]["value"]


def _config(event_type: str) -> dict[str, str]:
    config = {
        "distributionDomainName": DISTRIBUTION_DOMAIN,
        "distributionId": DISTRIBUTION_ID,
        "eventType": event_type,
    }
    if event_type.startswith("viewer-"):
        config["requestId"] = "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
    return config


def viewer_request_event(
    uri: str, querystring: str = "", headers: HeaderInput | None = None
) -> dict[str, Any]:
    """A viewer-request event for ``GET uri?querystring`` with ``headers``."""
    base: dict[str, str | Sequence[str]] = {
        "Host": DISTRIBUTION_DOMAIN,
        "User-Agent": "curl/8.5.0",
    }
    base.update(headers or {})
    return {
        "Records": [
            {
                "cf": {
                    "config": _config("viewer-request"),
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": cf_headers(base),
                        "method": "GET",
                        "querystring": querystring,
                        "uri": uri,
                    },
                }
            }
        ]
    }


def origin_response_event(
    key_uri: str,
    status: int,
    querystring: str = "",
    response_headers: HeaderInput | None = None,
) -> dict[str, Any]:
    """An origin-response event: S3 answered ``status`` for the rewritten ``key_uri``."""
    descriptions = {200: "OK", 304: "Not Modified", 403: "Forbidden", 404: "Not Found"}
    s3_headers: dict[str, str | Sequence[str]] = {
        "Server": "AmazonS3",
        "x-amz-request-id": "EXAMPLE123",
        "Via": "1.1 abc.cloudfront.net (CloudFront)",
    }
    if status != 304:
        # S3 stores whatever type the uploader gave; errors come back as XML.
        s3_headers["Content-Type"] = "application/xml" if status >= 400 else "binary/octet-stream"
    s3_headers.update(response_headers or {})
    return {
        "Records": [
            {
                "cf": {
                    "config": _config("origin-response"),
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": cf_headers(
                            {"Host": BUCKET_DOMAIN, "User-Agent": "Amazon CloudFront"}
                        ),
                        "method": "GET",
                        "origin": {
                            "s3": {
                                "authMethod": "origin-access-identity",
                                "customHeaders": {},
                                "domainName": BUCKET_DOMAIN,
                                "path": "",
                                "region": "us-east-1",
                            }
                        },
                        "querystring": querystring,
                        "uri": key_uri,
                    },
                    "response": {
                        "headers": cf_headers(s3_headers),
                        "status": str(status),
                        "statusDescription": descriptions.get(status, "Error"),
                    },
                }
            }
        ]
    }
