"""Sign-in on AWS: the page through Cognito's hosted UI, authorization code with PKCE.

A stand-in for the hosted UI runs in this test (its /oauth2/authorize login form, /oauth2/token,
/logout, and the pool's JWKS), and the real API (gunicorn) verifies its RS256 tokens as it would
Cognito's: it is configured only by environment, as the stack configures it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.tokens import ALGORITHM, LocalIssuer
from tests.conftest import photo
from tests.e2e.browser import RECORD_CSP_VIOLATIONS, chromium
from tests.e2e.processes import embedded_env, free_port, presigned_upload, web

pytestmark = pytest.mark.e2e

POOL = "eu-west-1_E2ETEST"
CLIENT = "web-public-client"
EMAIL = "ana@example.com"


@dataclass
class HostedUi:
    """Cognito's hosted UI and the pool's keys, as much of them as the page and the API use."""

    users: dict[str, str]  # email -> sub
    server: ThreadingHTTPServer = field(init=False)
    issuer: LocalIssuer = field(init=False)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> its request
    exchanges: list[dict[str, str]] = field(default_factory=list)  # every /oauth2/token form
    refused: list[str] = field(default_factory=list)
    logouts: int = 0
    callback: str = ""  # the app client's one callback (and sign-out) URL

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.issuer = LocalIssuer(key, issuer=f"{self.url}/{POOL}", client_id=CLIENT)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tokens(self, email: str) -> dict[str, Any]:
        sub = self.users[email]
        now = int(time.time())
        id_token = jwt.encode(
            {
                "sub": sub,
                "iss": self.issuer.issuer,
                "aud": CLIENT,
                "token_use": "id",
                "email": email,
                "iat": now,
                "exp": now + 3600,
            },
            self.issuer._private,
            algorithm=ALGORITHM,
            headers={"kid": self.issuer.kid},
        )
        return {
            "access_token": self.issuer.issue(sub),
            "id_token": id_token,
            "refresh_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
        }

    # --- the endpoints ---

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        wanted = {"response_type": "code", "client_id": CLIENT, "code_challenge_method": "S256"}
        wrong = [k for k, v in wanted.items() if query.get(k) != v]
        if query.get("redirect_uri") != self.callback or "openid" not in query.get("scope", ""):
            wrong.append("redirect_uri or scope")
        if wrong or len(query.get("code_challenge", "")) != 43 or not query.get("state"):
            self.refused.append(f"authorize: {wrong or 'challenge or state'}")
            return 400, {}, b"invalid_request"
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            "<!doctype html><title>Sign in</title><form method=post action=/login>"
            f'{hidden}<label>Email <input name="email" type="email"></label>'
            '<label>Password <input name="password" type="password"></label>'
            "<button>Sign in</button></form>"
        )
        return 200, {"Content-Type": "text/html"}, page.encode()

    def login(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if form.get("email") not in self.users or not form.get("password"):
            return 200, {"Content-Type": "text/html"}, b"Incorrect username or password."
        code = secrets.token_urlsafe(24)
        self.pending[code] = form
        back = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': form['state']})}"
        return 302, {"Location": back}, b""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.exchanges.append(form)
        asked = self.pending.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        ok = (
            asked is not None
            and form.get("grant_type") == "authorization_code"
            and form.get("client_id") == CLIENT
            and form.get("redirect_uri") == asked["redirect_uri"]
            and challenge.decode() == asked["code_challenge"]
        )
        cors = {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}
        if not ok or asked is None:
            self.refused.append("token: invalid_grant")
            return 400, cors, b'{"error": "invalid_grant"}'
        return 200, cors, json.dumps(self.tokens(asked["email"])).encode()

    def logout(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != CLIENT or query.get("logout_uri") != self.callback:
            return 400, {}, b"invalid_request"
        self.logouts += 1
        return 302, {"Location": query["logout_uri"]}, b""


def _handler(ui: HostedUi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/oauth2/authorize":
                self._answer(*ui.authorize(query))
            elif parts.path == "/logout":
                self._answer(*ui.logout(query))
            elif parts.path == f"/{POOL}/.well-known/jwks.json":
                body = json.dumps(ui.issuer.jwks()).encode()
                self._answer(200, {"Content-Type": "application/json"}, body)
            else:
                self._answer(404, {}, b"not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path == "/login":
                self._answer(*ui.login(form))
            elif self.path == "/oauth2/token":
                self._answer(*ui.token(form))
            else:
                self._answer(404, {}, b"not found")

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Site:
    base: str
    ui: HostedUi


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ui = HostedUi(users={EMAIL: str(uuid.uuid4()), "bo@example.com": str(uuid.uuid4())})
    var = tmp_path_factory.mktemp("var")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ui.callback = f"{base}/"
    env = embedded_env(
        var,
        port,
        IMAGEPIPE_COGNITO_USER_POOL_ID=POOL,
        IMAGEPIPE_COGNITO_CLIENT_ID=CLIENT,
        IMAGEPIPE_COGNITO_REGION="eu-west-1",
        IMAGEPIPE_COGNITO_HOSTED_UI_URL=ui.url,
        IMAGEPIPE_COGNITO_ISSUER_URL=ui.issuer.issuer,
    )
    try:
        with ExitStack() as stack:
            web(stack, env, var)
            yield Site(base, ui)
    finally:
        ui.close()


def upload_as(site: Site, email: str, name: str) -> str:
    token = site.ui.tokens(email)["access_token"]

    def api(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, f"{site.base}{path}", headers=headers, timeout=30, **kwargs)

    return presigned_upload(api, photo("skimage_coffee.png").read_bytes(), name, "image/png")[0]


def test_the_page_signs_in_through_the_hosted_ui_and_lists_the_users_images(site: Site) -> None:
    mine = {upload_as(site, EMAIL, name) for name in ("beach.png", "cat.png")}
    upload_as(site, "bo@example.com", "not-hers.png")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.goto(site.base)
        assert page.get_by_label("Sign in as").is_hidden()  # the dev form is embedded-only
        # Not before a sign-in (a click on it while the code is exchanged kept the user in).
        assert page.get_by_role("button", name="Sign out").is_hidden()
        page.get_by_role("button", name="Sign in", exact=True).click()
        # The hosted UI's own page: the user signs in there, never on ours.
        page.wait_for_url(f"{site.ui.url}/oauth2/authorize?**", timeout=15_000)
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()

        page.get_by_text(f"Signed in as {EMAIL}").wait_for(timeout=15_000)
        assert page.url == f"{site.base}/"  # the code and state are out of the address bar
        page.wait_for_function(
            "() => document.querySelectorAll('#items li').length === 2", timeout=30_000
        )
        listed = page.locator("#items li").evaluate_all("lis => lis.map(li => li.dataset.imageId)")
        assert set(listed) == mine
        assert set(page.locator("#items .name").all_inner_texts()) == {"beach.png", "cat.png"}
        # One exchange, with the verifier whose challenge the authorize request carried.
        assert len(site.ui.exchanges) == 1 and site.ui.refused == []
        exchange = site.ui.exchanges[0]
        assert "client_secret" not in exchange and len(exchange["code_verifier"]) >= 43
        kept = page.evaluate("() => sessionStorage.getItem('imagepipe-token')")
        assert jwt.decode(kept, options={"verify_signature": False})["token_use"] == "access"
        assert page.evaluate("() => window.cspViolations") == []

        # Reloading keeps the session (no new exchange); the back button has no code to replay.
        page.reload()
        page.get_by_text(f"Signed in as {EMAIL}").wait_for(timeout=15_000)
        assert len(site.ui.exchanges) == 1
        urls = page.evaluate("() => performance.getEntriesByType('navigation').map(n => n.name)")
        assert all("code=" not in u for u in urls), urls

        # A code this page did not ask for (a link from elsewhere) is refused, not exchanged.
        page.evaluate("() => sessionStorage.clear()")
        page.goto(f"{site.base}/?code=stolen&state=guessed")
        page.get_by_text("this sign-in was not started on this page").wait_for(timeout=15_000)
        assert page.url == f"{site.base}/"
        assert len(site.ui.exchanges) == 1

        # Signing out also ends the hosted UI's session, and comes back to the sign-in button.
        page.goto(site.base)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=15_000)
        assert site.ui.logouts == 1
        assert page.evaluate("() => sessionStorage.getItem('imagepipe-token')") is None
