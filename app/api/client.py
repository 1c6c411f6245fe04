"""Whose address a request is: what the per-address limits count (docs/security.md).

Every proxy appends the address it received the request from to X-Forwarded-For, so the entries
on the right are written by proxies we run and the ones on the left by whoever sent the request.
Only ``IMAGEPIPE_TRUSTED_PROXIES`` entries from the right are believed (the stack's ALB: 1). A
request that proves, with ``IMAGEPIPE_CDN_ORIGIN_SECRET``, that it came through CloudFront
believes one entry more: CloudFront's, which is the viewer. Without this, behind a load balancer
every client would share the balancer's address: one abuser's failed sign-ins would lock out
everyone, and the uploads of all users would count against one address's rate.
"""

from __future__ import annotations

import hmac

from flask import request
from werkzeug.datastructures import Headers

from app.api.running import current_settings
from app.names import CDN_SECRET_HEADER
from app.settings import Settings


def client_address() -> str:
    return address_of(current_settings(), request.remote_addr, request.headers)


def address_of(settings: Settings, peer: str | None, headers: Headers) -> str:
    """The client's address: `peer` (the socket's), or the trusted X-Forwarded-For entry."""
    hops = settings.trusted_proxies
    if hops and _through_cdn(settings, headers):
        hops += 1
    forwarded = [
        entry.strip() for value in headers.getlist("X-Forwarded-For") for entry in value.split(",")
    ]
    forwarded = [entry for entry in forwarded if entry]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return peer or "unknown"  # no proxy trusted, or a request that did not come through them


def _through_cdn(settings: Settings, headers: Headers) -> bool:
    secret = settings.cdn_origin_secret.reveal()
    given = headers.get(CDN_SECRET_HEADER, "")
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())
