"""GET /config: how the page signs in and what it may upload, before anyone is signed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.api import create_app
from app.services import build_services
from tests.conftest import RecordingJobs, make_settings

HOSTED_UI = "https://imagepipe-dev.auth.eu-west-1.amazoncognito.com"


def _app(tmp_path: Path, **settings: Any) -> Flask:
    config = make_settings(tmp_path, **settings)
    app = create_app(config, services=build_services(config), jobs=RecordingJobs())
    app.testing = True
    return app


def test_embedded_mode_offers_the_dev_sign_in_and_the_upload_limits(tmp_path: Path) -> None:
    answer = _app(tmp_path, max_upload_bytes=3_000_000).test_client().get("/config")
    assert answer.status_code == 200  # no token: the page asks before anyone signs in
    body = answer.get_json()
    assert body["sign_in"] == {"dev": True, "hosted_ui": None}
    assert body["upload"]["max_bytes"] == 3_000_000
    assert {"image/jpeg", "image/heic", "image/avif"} <= set(body["upload"]["content_types"])
    assert "application/pdf" not in body["upload"]["content_types"]
    assert body["upload"]["by_suffix"]["heic"] == "image/heic"


def test_with_a_pool_the_page_gets_its_hosted_ui_and_may_fetch_tokens_there(
    tmp_path: Path,
) -> None:
    client = _app(
        tmp_path,
        cognito_user_pool_id="eu-west-1_abc",
        cognito_client_id="web-client",
        cognito_region="eu-west-1",
        cognito_hosted_ui_url=HOSTED_UI,
    ).test_client()
    body = client.get("/config").get_json()
    assert body["sign_in"] == {
        "dev": False,
        "hosted_ui": {"url": HOSTED_UI, "client_id": "web-client", "scopes": "openid email"},
    }
    # The code is exchanged from the page: its CSP lets it reach the token endpoint, and only it.
    csp = client.get("/").headers["Content-Security-Policy"]
    connect = next(d for d in csp.split("; ") if d.startswith("connect-src "))
    assert HOSTED_UI in connect.split()
    assert "amazoncognito.com" not in csp.replace(connect, "")


def test_without_a_hosted_ui_the_page_connects_only_to_its_own_origin(tmp_path: Path) -> None:
    csp = _app(tmp_path).test_client().get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' http://testserver;" in csp
