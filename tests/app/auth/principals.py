"""Every kind of caller the authorization tests try, as Authorization headers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.tokens import LocalIssuer
from app.settings import Settings

OWNER, OTHER, ADMIN = "alice", "bob", "support"
# Callers that are not anyone: each must get 401 on every route that takes a token.
UNAUTHENTICATED = (
    "no_token",
    "not_bearer",
    "malformed",
    "expired",
    "not_yet_valid",
    "other_issuer",
    "same_key_other_issuer",
    "tampered",
    "hs256_with_public_key",
    "alg_none",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tamper(token: str, **claims: object) -> str:
    """The token with its payload changed and its signature kept."""
    head, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([head, _b64(json.dumps(body | claims).encode()), signature])


def _hs256_with_public_key(issuer: LocalIssuer, now: float) -> str:
    """The classic confusion: HMAC keyed with the RSA public key, claiming alg HS256."""
    import hmac
    from hashlib import sha256

    from cryptography.hazmat.primitives import serialization

    pem = issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(issuer, now)).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _alg_none(issuer: LocalIssuer, now: float) -> str:
    head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{_b64(json.dumps(_claims(issuer, now)).encode())}."


def _claims(issuer: LocalIssuer, now: float) -> dict[str, object]:
    return {
        "sub": OWNER,
        "iss": issuer.issuer,
        "aud": "imagepipe",
        "client_id": "imagepipe",
        "token_use": "access",
        "iat": int(now),
        "exp": int(now) + 600,
    }


def headers(settings: Settings, who: str) -> dict[str, str]:
    """The Authorization header of one kind of caller (see UNAUTHENTICATED)."""
    issuer = LocalIssuer.from_settings(settings)
    now = time.time()
    if who == "no_token":
        return {}
    if who == "not_bearer":
        return {"Authorization": "Basic dXNlcjpwYXNz"}
    makers: dict[str, Callable[[], str]] = {
        "owner": lambda: issuer.issue(OWNER),
        "other_user": lambda: issuer.issue(OTHER),
        "admin": lambda: issuer.issue(ADMIN, admin=True),
        "malformed": lambda: "not.a.jwt",
        "expired": lambda: issuer.issue(OWNER, now=now - 7200, ttl_seconds=60),
        "not_yet_valid": lambda: issuer.issue(OWNER, now=now + 3600),
        "other_issuer": lambda: LocalIssuer(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            issuer="https://elsewhere.example/issuer",
        ).issue(OWNER, admin=True),
        # Signed by our own key but naming another issuer: still refused.
        "same_key_other_issuer": lambda: LocalIssuer(
            issuer._private, issuer="https://elsewhere.example/issuer"
        ).issue(OWNER),
        "tampered": lambda: _tamper(
            issuer.issue(OTHER), sub=OWNER, **{"cognito:groups": ["admin"]}
        ),
        "hs256_with_public_key": lambda: _hs256_with_public_key(issuer, now),
        "alg_none": lambda: _alg_none(issuer, now),
    }
    return {"Authorization": f"Bearer {makers[who]()}"}
