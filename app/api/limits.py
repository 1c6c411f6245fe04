"""Abuse limits: request rates (flask-limiter) and per-user quotas.

* ``POST /upload``: per user (the token's subject) and per client address, 429 with
  ``Retry-After`` past either.
* Failed authentications: counted per client address and per claimed user (the unverified
  ``sub`` of a bad token). Past the limit an address gets 429 on every authenticated route
  until the window passes; bad tokens claiming a user get 429 instead of 401, while that
  user's valid tokens keep working (failing in someone's name must not lock them out).
* Quotas: bytes stored and uploads started per user per day, checked when an upload is asked
  for, with a message that says which and how much is left.

Counters live in ``IMAGEPIPE_RATE_LIMIT_STORAGE_URI``: ``memory://`` (per process: enough for
one laptop) or a shared store (``redis://``, ``memcached://``) for several servers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jwt
from flask import Flask, current_app, g
from flask_limiter import Limiter
from limits import RateLimitItem, parse

from app.api.client import client_address
from app.api.errors import ApiError
from app.api.running import current_settings
from app.catalog import Status
from app.services import Services
from app.settings import Settings

EXTENSION = "imagepipe_limiter"
UPLOAD_ENDPOINT = "uploads.create_upload"
_DAY = 24 * 3600


def install(app: Flask, settings: Settings, *, caller: Callable[[], str]) -> Limiter:
    """caller: the verified caller's user ID, or ApiError (app/api/context.py's identity)."""

    def user_key() -> str:
        # The upload's per-user bucket: the verified caller (the view 401s anyone else).
        try:
            return f"user:{caller()}"
        except ApiError:
            return f"anonymous:{client_address()}"

    limiter = Limiter(
        key_func=client_address,
        app=app,
        storage_uri=settings.rate_limit_storage_uri,
        headers_enabled=True,
        key_prefix="imagepipe",
    )
    app.extensions[EXTENSION] = limiter
    # Wrapped here, not decorated in uploads.py: the limits come from this app's settings.
    upload: Any = app.view_functions[UPLOAD_ENDPOINT]
    upload = limiter.limit(settings.upload_rate_per_user, key_func=user_key)(upload)
    upload = limiter.limit(settings.upload_rate_per_ip, key_func=client_address)(upload)
    app.view_functions[UPLOAD_ENDPOINT] = upload
    return limiter


def _auth_failure_rate() -> RateLimitItem:
    rate: RateLimitItem = parse(current_settings().auth_failure_rate)
    return rate


def _failure_keys(token: str, *, failed: bool) -> list[str]:
    """The address's key; for a token that has just failed, also the user it claims."""
    keys = [f"ip:{client_address()}"]
    if not failed:
        return keys  # a token not yet checked: decoding it here would be wasted on every request
    try:
        claimed = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.InvalidTokenError:
        claimed = None
    if isinstance(claimed, str) and claimed:
        keys.append(f"sub:{claimed[:128]}")
    return keys


def check_auth_failures(token: str, *, failed: bool = False) -> None:
    """429 when this address failed too often lately; and, for a token that has just failed,
    when the user it claims has. A valid token is never refused for someone else's failures
    against its user, so nobody can lock a user out by failing in their name."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return
    rate = _auth_failure_rate()
    keys = _failure_keys(token, failed=failed)
    for key in keys:
        if not limiter.limiter.test(rate, "auth-failure", key):
            reset, _remaining = limiter.limiter.get_window_stats(rate, "auth-failure", key)
            retry = max(1, math.ceil(reset - time.time()))
            raise ApiError(
                429,
                "too_many_failures",
                f"too many failed sign-ins; try again in {retry} s",
                headers={"Retry-After": str(retry)},
            )


def record_auth_failure(token: str) -> None:
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or g.get("imagepipe_failure_counted"):
        return
    g.imagepipe_failure_counted = True  # one request is one failure, however often it asks
    rate = _auth_failure_rate()
    for key in _failure_keys(token, failed=True):
        limiter.limiter.hit(rate, "auth-failure", key)


def check_quota(services: Services, user_id: str, size: int, now: float | None = None) -> None:
    """413/429 when this upload would take the user past their stored bytes or daily uploads."""
    settings = services.settings
    now = time.time() if now is None else now
    stored = 0
    today = 0
    # Sizes and statuses only: on DynamoDB the by_user index alone, not every record's variants.
    for record in services.catalog.usage_by_user(user_id):
        if record.upload_time > now - _DAY:
            today += 1
        if record.status is Status.FAILED:
            continue
        if record.size is not None:
            stored += record.size * 1024  # the record keeps KB, as the paper says
        else:
            # Not processed yet: its size is unknown, so it counts as the largest allowed
            # (abandoned uploads are removed by app/retention.py).
            stored += settings.max_upload_bytes
    if today >= settings.quota_uploads_per_day:
        raise ApiError(
            429,
            "quota_exceeded",
            f"you have started {today} uploads in the last 24 hours, the daily limit "
            f"({settings.quota_uploads_per_day}); try again later",
        )
    if stored + size > settings.quota_bytes_per_user:
        left = max(0, settings.quota_bytes_per_user - stored)
        raise ApiError(
            413,
            "quota_exceeded",
            f"this upload ({size} bytes) would go past your storage quota of "
            f"{settings.quota_bytes_per_user} bytes ({left} bytes left); delete some images",
        )
