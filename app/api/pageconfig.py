"""GET /config: what the page at `/` must know before anyone signs in.

How to sign in (the embedded "sign in as" form, or the Cognito hosted UI with its public app
client), and what an upload may be (types and size), so the page refuses a file before sending
it. Nothing here is secret: a public client's ID is in every sign-in URL anyway. Served as JSON
rather than written into the page, which keeps its strict CSP free of inline script.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.api.context import platform
from app.api.devlogin import available as dev_sign_in
from app.imaging.formats import ACCEPTED_CONTENT_TYPES, CONTENT_TYPE_BY_SUFFIX

blueprint = Blueprint("pageconfig", __name__)
SCOPES = "openid email"  # the stack's app client allows these (infra/pulumi auth.py)


@blueprint.get("/config")
def page_config() -> dict[str, Any]:
    settings = platform().services.settings
    hosted_ui = None
    if settings.cognito_user_pool_id and settings.cognito_hosted_ui_url:
        hosted_ui = {
            "url": settings.cognito_hosted_ui_url,
            "client_id": settings.cognito_client_id,
            "scopes": SCOPES,
        }
    return {
        "sign_in": {"dev": dev_sign_in(settings), "hosted_ui": hosted_ui},
        "upload": {
            "max_bytes": settings.max_upload_bytes,
            "content_types": sorted(ACCEPTED_CONTENT_TYPES),
            "by_suffix": {k.lstrip("."): v for k, v in CONTENT_TYPE_BY_SUFFIX.items()},
        },
    }
