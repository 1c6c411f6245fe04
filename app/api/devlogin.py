"""POST /dev/token {user_id}: the page's "sign in as" form, for embedded mode only.

On a laptop there is no identity provider: the local issuer signs tokens for anyone, and
`imagepipe token USER_ID` already prints one to whoever can run it. This route lets the page
do the same. Outside embedded mode (any AWS backend, or a Cognito pool) it does not exist:
404, exactly as an unknown route. Each call counts against the auth-failure rate of the
client address, so it cannot be used to mint tokens in bulk.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, current_app

from app.api.client import client_address
from app.api.context import platform
from app.api.errors import ApiError
from app.api.limits import EXTENSION
from app.api.operations import Reply, operation
from app.api.params import request_body
from app.api.responses import DevToken
from app.api.schemas import DevTokenRequest
from app.auth.tokens import LocalIssuer
from app.settings import Settings

blueprint = Blueprint("devlogin", __name__)


def available(settings: Settings) -> bool:
    return settings.embedded and not settings.cognito_user_pool_id


@blueprint.post("/dev/token")
@operation(
    "Sign in as anyone (embedded mode only)",
    tag="auth",
    auth=False,
    body=DevTokenRequest,
    ok={201: Reply("a bearer token for the user", DevToken)},
    errors=(404, 429),
)
def dev_token() -> tuple[dict[str, Any], int]:
    """The page's "sign in as" form. 404 outside embedded mode, as an unknown route."""
    settings = platform().services.settings
    if not available(settings):
        raise ApiError(404, "not_found", "the requested URL was not found on the server")
    _count_against_rate(settings)
    user_id = request_body(DevTokenRequest, "{user_id}").user_id  # checked by check_user_id
    token = LocalIssuer.from_settings(settings).issue(user_id)
    return {
        "token": token,
        "user_id": user_id,
        "expires_in": settings.token_ttl_seconds,
    }, 201


def _count_against_rate(settings: Settings) -> None:
    """The address's dev sign-ins share the auth-failure rate (its own counter)."""
    from limits import parse as parse_rate

    limiter = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return
    rate = parse_rate(settings.auth_failure_rate)
    key = f"ip:{client_address()}"
    if not limiter.limiter.hit(rate, "dev-token", key):
        reset, _remaining = limiter.limiter.get_window_stats(rate, "dev-token", key)
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            "too_many_sign_ins",
            f"too many sign-ins from this address; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )
