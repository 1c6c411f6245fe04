"""GET /config: what the page at `/` must know before anyone signs in.

How to sign in (the embedded "sign in as" form, or the Cognito hosted UI with its public app
client), and what an upload may be (types and size), so the page refuses a file before sending
it. Nothing here is secret: a public client's ID is in every sign-in URL anyway. Served as JSON
rather than written into the page, which keeps its strict CSP free of inline script.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from app.api.context import platform
from app.api.devlogin import available as dev_sign_in
from app.api.operations import Reply, operation
from app.api.responses import Closed
from app.imaging.formats import ACCEPTED_CONTENT_TYPES, CONTENT_TYPE_BY_SUFFIX

blueprint = Blueprint("pageconfig", __name__)
SCOPES = "openid email"  # the stack's app client allows these (infra/pulumi auth.py)


class HostedUi(Closed):
    url: str = Field(description="the Cognito hosted UI's base URL")
    client_id: str = Field(description="the page's public app client")
    scopes: str


class SignIn(Closed):
    dev: bool = Field(description="the embedded 'sign in as' form (POST /dev/token) is on")
    hosted_ui: HostedUi | None


class UploadRules(Closed):
    max_bytes: int
    content_types: list[str]
    by_suffix: dict[str, str] = Field(description="file suffix (no dot) -> content type")


class PageConfig(Closed):
    sign_in: SignIn
    upload: UploadRules


@blueprint.get("/config")
@operation(
    "What the page needs before sign-in",
    tag="page",
    auth=False,
    ok={200: Reply("how to sign in, and what an upload may be", PageConfig)},
)
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
