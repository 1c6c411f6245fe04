"""Bearer tokens: RS256 JWTs, verified in one path whoever issued them.

* **AWS**: Cognito User Pool tokens, checked against the pool's JWKS (PyJWT's ``PyJWKClient``:
  fetched once, cached, fetched again when a token names a key it has not seen, so a key
  rotation needs no restart).
* **Embedded**: :class:`LocalIssuer`, whose RSA key pair is made at first start under the
  data folder (0600) and whose tokens carry Cognito's claims (``iss``, ``aud``/``client_id``,
  ``token_use``, ``exp``, ``nbf``, ``cognito:groups``), so the verifier cannot tell them apart.

Both end in :class:`JwtVerifier`: signature, issuer, audience or client id, token use, expiry
and not-before. Members of the ``admin`` group may act on any user's images.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.settings import Settings, SettingsError
from app.storage.private import FILE_MODE, private_dir

ADMIN_GROUP = "admin"
LOCAL_CLIENT_ID = "imagepipe"
# Not a URL: the local issuer publishes nothing, and its tokens stay valid whatever
# IMAGEPIPE_PUBLIC_BASE_URL the API or the CLI is given.
LOCAL_ISSUER = "urn:imagepipe:local-issuer"
KEY_FILE = "token_signing_key.pem"
ALGORITHM = "RS256"
VERIFIED_TOKENS_KEPT = 4096  # per process; each entry is a token and an Identity (~1.5 KB)
# fullmatch, not match with "$": "$" also matches before a final newline ("alice\n").
_USER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")
USER_ID_PATTERN = f"^{_USER_ID.pattern}$"  # the same rule in JSON Schema (/openapi.json)
_LEEWAY_SECONDS = 30  # clock skew between the issuer and this server


class InvalidToken(Exception):
    """The token does not identify anyone; the message says why (safe to show)."""


class IdentityUnavailable(Exception):
    """The issuer's keys cannot be fetched: the token was not judged (a 503, not a 401)."""


class InvalidUserId(ValueError):
    pass


def check_user_id(user_id: str) -> str:
    if not _USER_ID.fullmatch(user_id):
        raise InvalidUserId("a user ID is 1-128 characters of letters, digits and _ . @ : -")
    return user_id


@dataclass(frozen=True)
class Identity:
    user_id: str
    admin: bool = False

    def may_act_for(self, user_id: str) -> bool:
        return self.admin or self.user_id == user_id


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Identity:
        """Who the token speaks for; InvalidToken otherwise."""
        ...


class KeySource(Protocol):
    def key_for(self, token: str) -> Any:
        """The public key that should have signed ``token`` (by its ``kid``)."""
        ...


class JwtVerifier:
    """The one verification path for every RS256 token the platform accepts."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        client_id: str,
        token_uses: Sequence[str] = ("access", "id"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self.issuer = issuer
        self.client_id = client_id
        self._uses = frozenset(token_uses)
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Identity:
        """A client sends the same token with every request for an hour: its signature and
        claims are checked once, then the answer is reused until the token expires."""
        with self._lock:
            known = self._verified.get(token)
            if known is not None:
                self._verified.move_to_end(token)
        if known is not None:
            who, expires = known
            if self._clock() <= expires + _LEEWAY_SECONDS:
                return who
            with self._lock:
                self._verified.pop(token, None)
            raise InvalidToken("the token has expired")
        who, expires = self._check(token)
        with self._lock:
            self._verified[token] = (who, expires)
            while len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)
        return who

    def _check(self, token: str) -> tuple[Identity, float]:
        try:
            key = self._keys.key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                # Cognito access tokens name the app in client_id, id tokens in aud.
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWKClientConnectionError:
            raise IdentityUnavailable("the identity provider's keys cannot be fetched") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise InvalidToken(f"the token is not valid ({type(exc).__name__})") from None
        use = claims["token_use"]
        if use not in self._uses:
            raise InvalidToken(f"a {use!r} token is not accepted here")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if audience != self.client_id:
            raise InvalidToken("the token was issued to another application")
        subject = claims["sub"]
        if not isinstance(subject, str) or not _USER_ID.fullmatch(subject):
            raise InvalidToken("the token names no valid user")
        groups = claims.get("cognito:groups") or []
        admin = isinstance(groups, list) and ADMIN_GROUP in groups
        return Identity(subject, admin=admin), float(claims["exp"])


class LocalIssuer:
    """The embedded identity provider: RS256 tokens shaped like Cognito access tokens."""

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        issuer: str,
        client_id: str = LOCAL_CLIENT_ID,
        ttl_seconds: int = 3600,
    ) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.issuer = issuer
        self.client_id = client_id
        self.kid = _key_id(self.public_key)
        self._ttl = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalIssuer:
        key = load_or_create_key(settings.data_path(KEY_FILE))
        return cls(
            key,
            issuer=LOCAL_ISSUER,
            ttl_seconds=settings.token_ttl_seconds,
        )

    def issue(
        self,
        user_id: str,
        *,
        admin: bool = False,
        ttl_seconds: int | None = None,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": check_user_id(user_id),
            "iss": self.issuer,
            "aud": self.client_id,
            "client_id": self.client_id,
            "token_use": "access",
            "iat": issued,
            "nbf": issued,
            "exp": issued + (self._ttl if ttl_seconds is None else ttl_seconds),
            "jti": uuid.uuid4().hex,
            "cognito:groups": [ADMIN_GROUP] if admin else [],
        }
        return jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": self.kid})

    def key_for(self, token: str) -> Any:
        return self.public_key

    def verifier(self) -> JwtVerifier:
        return JwtVerifier(self, issuer=self.issuer, client_id=self.client_id)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS document, as Cognito publishes its pool's keys."""
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": ALGORITHM}]}


class JwksKeys:
    """A Cognito pool's keys, from its JWKS URL (cached; refetched for an unseen kid)."""

    def __init__(
        self,
        jwks_url: str,
        *,
        lifespan_seconds: int = 3600,
        timeout: int = 5,
        refresh_cooldown_seconds: float = 30,
    ) -> None:
        # The cooldown bounds refetches: tokens naming made-up kids cannot flood the pool.
        self._client = jwt.PyJWKClient(
            jwks_url,
            cache_keys=True,
            lifespan=lifespan_seconds,
            timeout=timeout,
            cooldown_duration=refresh_cooldown_seconds,
        )

    def key_for(self, token: str) -> Any:
        return self._client.get_signing_key_from_jwt(token).key


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    """Cognito's pool when one is configured, else the local issuer under the data folder."""
    if settings.cognito_user_pool_id:
        region = settings.cognito_region or settings.aws_region or ""
        if not region or not settings.cognito_client_id:
            raise SettingsError(
                "IMAGEPIPE_COGNITO_USER_POOL_ID needs IMAGEPIPE_COGNITO_CLIENT_ID and a region "
                "(IMAGEPIPE_COGNITO_REGION or AWS_REGION)"
            )
        issuer = settings.cognito_issuer_url or cognito_issuer(
            region, settings.cognito_user_pool_id
        )
        return JwtVerifier(
            JwksKeys(f"{issuer}/.well-known/jwks.json"),
            issuer=issuer,
            client_id=settings.cognito_client_id,
        )
    return LocalIssuer.from_settings(settings).verifier()


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The PEM key at ``path``, made (0600, 2048-bit RSA) if it is not there yet."""
    if not path.exists():
        private_dir(path.parent)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Write aside, then link: processes starting together agree on one key.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    """A stable key id: a digest of the public key (as JWK thumbprints are)."""
    from cryptography.hazmat.primitives import hashes

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()[:16]
