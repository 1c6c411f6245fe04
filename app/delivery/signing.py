"""Signed, expiring delivery URLs: one grant per image covers all of its URLs.

A grant is a few query parameters that the API appends to every URL of one image:
``/i/{id}`` (negotiated) and ``/i/{id}/{name}`` (each variant). It is scoped to the image,
not to one exact URL, because the edge and the embedded route answer a missing variant
with a 302 to a more basic one (``1280.avif`` -> ``1280.jpg`` -> ``640.jpg``), carrying the
signature along: a signature tied to the exact first URL would fail on the redirect.

Three adapters of one :class:`UrlSigner` Protocol, chosen from the settings by
:func:`signer_from_settings`:

* :class:`PublicImages` -- images are public: no parameters, every request passes.
* :class:`HmacSigner` -- embedded mode: ``exp``, ``kid``, ``sig`` where ``sig`` is
  HMAC-SHA256 of ``(version, /i/{id}, exp)`` under key ``kid``; several keys are accepted
  so that keys can be rotated without breaking URLs already handed out.
* ``app.delivery.cloudfront.CloudFrontSigner`` -- AWS: a CloudFront custom policy for
  ``{base}/i/{id}*`` signed with the key group's RSA key (imported only when configured).

Expiry times are rounded up to a step (:func:`expiry`), so every manifest served within
that step hands out the same URLs and browsers and CDNs keep hitting their caches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from typing import Final

from app.delivery.grants import (
    Clock,
    Grant,
    InvalidSignature,
    UrlSigner,
    expiry,
    image_scope,
)
from app.keys import derive_key
from app.settings import Settings, SettingsError
from edge.variants import SIGNING_KEYS

__all__ = [
    "DERIVED_KEY_ID",
    "HMAC_PARAMS",
    "SIGNATURE_PARAMS",
    "Clock",
    "Grant",
    "HmacSigner",
    "InvalidSignature",
    "PublicImages",
    "UrlSigner",
    "derived_key",
    "expiry",
    "image_scope",
    "signer_from_settings",
]

HMAC_PARAMS: Final = ("exp", "kid", "sig")
# Every query parameter that belongs to a signature, in either scheme: the delivery route
# keeps them out of the negotiation options, whichever signer is configured.
SIGNATURE_PARAMS: Final = frozenset(HMAC_PARAMS) | SIGNING_KEYS
DERIVED_KEY_ID: Final = "k0"

_VERSION: Final = "imagepipe-url-v1"
_KEY_PURPOSE: Final = "imagepipe/delivery-url-signing/v2"
_MAX_EXPIRES_DIGITS: Final = 12


class PublicImages:
    """Null adapter: images are public, URLs carry nothing and every request passes."""

    def grant(self, image_id: str) -> Grant:
        return Grant()

    def verify(self, image_id: str, url: str, params: Mapping[str, str]) -> None:
        return None


class HmacSigner:
    """Embedded-mode signatures: HMAC-SHA256 over (scope, expiry), with key rotation.

    ``keys`` are ``(key id, secret)``, newest first: the first signs, every one verifies,
    so a new key is added at the front and an old one removed once its URLs have expired.
    """

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        ttl_seconds: int,
        clock: Clock = time.time,
    ) -> None:
        if not keys:
            raise ValueError("HmacSigner needs at least one key")
        self._signing_id = keys[0][0]
        self._keys = dict(keys)
        self._ttl = ttl_seconds
        self._clock = clock

    def grant(self, image_id: str) -> Grant:
        return self.sign(image_id, expiry(self._clock(), self._ttl))

    def sign(self, image_id: str, expires: int, key_id: str | None = None) -> Grant:
        """The grant for ``image_id`` until ``expires``, under ``key_id`` (default: newest)."""
        key_id = key_id or self._signing_id
        signature = _mac(self._keys[key_id], image_scope(image_id), expires)
        return Grant((("exp", str(expires)), ("kid", key_id), ("sig", signature)), expires)

    def verify(self, image_id: str, url: str, params: Mapping[str, str]) -> None:
        missing = [name for name in HMAC_PARAMS if not params.get(name)]
        if missing:
            raise InvalidSignature("this image needs a signed URL (exp, kid, sig)")
        raw_expires, key_id, signature = (params[name] for name in HMAC_PARAMS)
        if not raw_expires.isascii() or not raw_expires.isdigit():
            raise InvalidSignature("malformed expiry")
        if len(raw_expires) > _MAX_EXPIRES_DIGITS:
            raise InvalidSignature("malformed expiry")
        key = self._keys.get(key_id)
        if key is None:
            raise InvalidSignature("unknown signing key")
        expected = _mac(key, image_scope(image_id), int(raw_expires))
        # Constant time, on bytes: a non-ASCII signature is just a wrong one.
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise InvalidSignature("bad signature")
        if int(raw_expires) <= self._clock():
            raise InvalidSignature("the URL has expired")


def _mac(key: bytes, scope: str, expires: int) -> str:
    message = f"{_VERSION}\n{scope}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def derived_key(secret_key: str) -> bytes:
    """The URL-signing key derived from IMAGEPIPE_SECRET_KEY when no keys are configured.

    Derived, not reused: a delivery signature can never double as a token or upload form.
    """
    return derive_key(secret_key, _KEY_PURPOSE)


def signer_from_settings(settings: Settings, clock: Clock = time.time) -> UrlSigner:
    """The configured signer. Raises SettingsError (naming the variable) on a bad key."""
    if not settings.private_images:
        return PublicImages()
    key_id, key_path = settings.cloudfront_key_id, settings.cloudfront_private_key_path
    if bool(key_id) != bool(key_path):
        raise SettingsError(
            "IMAGEPIPE_CLOUDFRONT_KEY_ID and IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH "
            "must be set together"
        )
    if key_id:
        from app.delivery.cloudfront import CloudFrontSigner

        return CloudFrontSigner.from_settings(settings, clock)
    keys = [(kid, secret.encode()) for kid, secret in settings.url_signing_keys.keys]
    if not keys:
        keys = [(DERIVED_KEY_ID, derived_key(settings.secret_key.reveal()))]
    return HmacSigner(keys, settings.signed_url_ttl_seconds, clock)
