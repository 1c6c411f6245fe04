"""Bearer tokens from the embedded issuer: HS256 JWTs signed with the instance's secret key.

Cognito arrives as another TokenVerifier; the API only sees the Protocol.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Protocol

import jwt

ISSUER = "imagepipe-local"
AUDIENCE = "imagepipe"
_USER_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")


class InvalidToken(Exception):
    pass


class InvalidUserId(ValueError):
    pass


def check_user_id(user_id: str) -> str:
    if not _USER_ID.match(user_id):
        raise InvalidUserId("a user ID is 1-128 characters of letters, digits and _ . @ : -")
    return user_id


class TokenVerifier(Protocol):
    def verify(self, token: str) -> str:
        """The user ID the token speaks for; InvalidToken otherwise."""
        ...


class LocalTokens:
    def __init__(self, secret: str, *, ttl_seconds: int = 3600) -> None:
        # A derived key: full length for HS256, and never the same bytes as the upload signer's.
        self._secret = hashlib.sha256(b"bearer-token:" + secret.encode()).digest()
        self._ttl = ttl_seconds

    def issue(
        self, user_id: str, *, ttl_seconds: int | None = None, now: float | None = None
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": check_user_id(user_id),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued,
            "exp": issued + (self._ttl if ttl_seconds is None else ttl_seconds),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> str:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"the token is not valid ({exc})") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not _USER_ID.match(subject):
            raise InvalidToken("the token names no valid user")
        return subject
