"""RS256 tokens in one verification path: the local issuer, and Cognito over a JWKS."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.tokens import (
    KEY_FILE,
    Identity,
    IdentityUnavailable,
    InvalidToken,
    JwksKeys,
    JwtVerifier,
    LocalIssuer,
    verifier_from_settings,
)
from app.settings import Settings, SettingsError
from tests.conftest import make_settings

CLIENT = "client-123"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Jwks:
    """A Cognito pool's JWKS endpoint on loopback, whose key set a test can rotate."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps(jwks.document).encode()
                self.send_response(200 if self.path.endswith("/jwks.json") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/eu-west-1_TEST"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *issuers: LocalIssuer) -> None:
        self.document = {"keys": [k for i in issuers for k in i.jwks()["keys"]]}

    def pool_issuer(self, key: rsa.RSAPrivateKey | None = None) -> LocalIssuer:
        return LocalIssuer(key or _key(), issuer=self.issuer, client_id=CLIENT)

    def verifier(self) -> JwtVerifier:
        return JwtVerifier(
            JwksKeys(f"{self.issuer}/.well-known/jwks.json", refresh_cooldown_seconds=0),
            issuer=self.issuer,
            client_id=CLIENT,
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def pool() -> Iterator[Jwks]:
    server = Jwks()
    yield server
    server.close()


def test_a_pool_access_token_is_verified_against_the_jwks(pool: Jwks) -> None:
    issuer = pool.pool_issuer()
    pool.publish(issuer)
    verifier = pool.verifier()
    assert verifier.verify(issuer.issue("alice")) == Identity("alice")
    assert verifier.verify(issuer.issue("support", admin=True)) == Identity("support", admin=True)
    assert pool.fetches == 1  # the key set is cached


class CountingKeys:
    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.asked = 0

    def key_for(self, token: str) -> Any:
        self.asked += 1
        return self.issuer.key_for(token)


def test_a_token_is_checked_once_then_reused_until_it_expires(tmp_path: Path) -> None:
    issuer = LocalIssuer(_key(), issuer="urn:test", client_id=CLIENT)
    keys = CountingKeys(issuer)
    now = [time.time()]
    verifier = JwtVerifier(keys, issuer="urn:test", client_id=CLIENT, clock=lambda: now[0])
    token = issuer.issue("alice")
    assert verifier.verify(token) == Identity("alice")
    assert verifier.verify(token) == Identity("alice")
    assert keys.asked == 1  # the second request reused the first one's check
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    now[0] = expires + 3600
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):
        verifier.verify(forged)  # another string: checked, not taken from the cache


def test_an_id_token_is_checked_by_audience(pool: Jwks) -> None:
    key = _key()
    issuer = pool.pool_issuer(key)
    pool.publish(issuer)
    now = int(time.time())
    claims = {"sub": "alice", "iss": pool.issuer, "token_use": "id", "iat": now, "exp": now + 60}
    headers = {"kid": issuer.kid}
    good = jwt.encode(claims | {"aud": CLIENT}, key, algorithm="RS256", headers=headers)
    other_app = jwt.encode(claims | {"aud": "another"}, key, algorithm="RS256", headers=headers)
    assert pool.verifier().verify(good) == Identity("alice")
    with pytest.raises(InvalidToken, match="another application"):
        pool.verifier().verify(other_app)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"token_use": "refresh"}, "not accepted"),
        ({"client_id": "another-app"}, "another application"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "ImmatureSignatureError"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"}, "InvalidIssuerError"),
        ({"sub": "../../etc"}, "no valid user"),
    ],
)
def test_each_claim_is_checked(pool: Jwks, claims: dict[str, Any], message: str) -> None:
    key = _key()
    issuer = pool.pool_issuer(key)
    pool.publish(issuer)
    base = jwt.decode(issuer.issue("alice"), options={"verify_signature": False})
    token = jwt.encode(base | claims, key, algorithm="RS256", headers={"kid": issuer.kid})
    with pytest.raises(InvalidToken, match=message):
        pool.verifier().verify(token)


def test_a_rotated_key_is_fetched_without_a_restart(pool: Jwks) -> None:
    old, new = pool.pool_issuer(), pool.pool_issuer()
    pool.publish(old)
    verifier = pool.verifier()
    assert verifier.verify(old.issue("alice")).user_id == "alice"
    pool.publish(new, old)  # the pool rotates: a new kid appears
    assert verifier.verify(new.issue("alice")).user_id == "alice"
    assert pool.fetches == 2


def test_a_key_the_pool_never_published_is_refused(pool: Jwks) -> None:
    pool.publish(pool.pool_issuer())
    with pytest.raises(InvalidToken):
        pool.verifier().verify(pool.pool_issuer().issue("alice"))


def test_an_unreachable_pool_is_unavailable_not_unauthorized(pool: Jwks) -> None:
    issuer = pool.pool_issuer()
    verifier = pool.verifier()
    pool.close()
    with pytest.raises(IdentityUnavailable):
        verifier.verify(issuer.issue("alice"))


def test_cognito_is_chosen_by_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        cognito_user_pool_id="eu-west-1_ABC",
        cognito_client_id=CLIENT,
        cognito_region="eu-west-1",
    )
    verifier = verifier_from_settings(settings)
    assert isinstance(verifier, JwtVerifier)
    assert verifier.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_ABC"
    assert verifier.client_id == CLIENT
    with pytest.raises(SettingsError, match="IMAGEPIPE_COGNITO_CLIENT_ID"):
        verifier_from_settings(make_settings(tmp_path, cognito_user_pool_id="eu-west-1_ABC"))


def test_a_stand_in_issuer_is_trusted_only_when_configured(tmp_path: Path, pool: Jwks) -> None:
    """IMAGEPIPE_COGNITO_ISSUER_URL: the keys and the `iss` claim of a local Cognito stand-in."""
    issuer = pool.pool_issuer()
    pool.publish(issuer)
    pool_settings = {
        "cognito_user_pool_id": "eu-west-1_TEST",
        "cognito_client_id": CLIENT,
        "cognito_region": "eu-west-1",
    }
    token = issuer.issue("alice")
    stand_in = make_settings(tmp_path, cognito_issuer_url=pool.issuer, **pool_settings)
    assert verifier_from_settings(stand_in).verify(token) == Identity("alice")
    # Without it the pool's issuer is Cognito's own, whose keys signed nothing here.
    cognito = verifier_from_settings(make_settings(tmp_path, **pool_settings))
    assert isinstance(cognito, JwtVerifier)
    assert cognito.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST"


def test_the_local_key_pair_is_made_once_and_private(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path / "var")
    first = LocalIssuer.from_settings(settings)
    again = LocalIssuer.from_settings(settings)
    assert first.kid == again.kid
    assert stat.S_IMODE((tmp_path / "var" / KEY_FILE).stat().st_mode) == 0o600
    token = first.issue("alice")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "token_use", "exp", "nbf", "cognito:groups", "sub"} <= set(claims)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert again.verifier().verify(token) == Identity("alice")
