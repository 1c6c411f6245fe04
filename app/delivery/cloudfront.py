"""CloudFront signed URLs (trusted key groups), made and checked with ``cryptography``.

CloudFront checks the signature itself, before the cache and before the viewer-request
function; this module makes the URLs, and checks them the way CloudFront does so that the
embedded delivery route (and the tests) behave like the CDN.

* Canned policy (:func:`canned_url`): ``Expires``, ``Signature``, ``Key-Pair-Id``; the
  policy is implicit and names the exact URL.
* Custom policy (:func:`custom_url`, what :class:`CloudFrontSigner` grants):
  ``Policy``, ``Signature``, ``Key-Pair-Id``; the policy names a resource with
  wildcards, here ``{base}/i/{id}*``, so one signature covers the negotiated URL, every
  variant and the origin-response's fallback redirects (which carry these parameters).

The signature is RSA PKCS#1 v1.5 with SHA-1 -- what CloudFront requires -- over the
policy JSON, in CloudFront's base64 alphabet (``+`` -> ``-``, ``=`` -> ``_``, ``/`` -> ``~``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature as RsaInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.delivery.grants import Clock, Grant, InvalidSignature, expiry, image_scope
from app.settings import Settings, SettingsError

_TO_CF: Final = bytes.maketrans(b"+=/", b"-_~")
_FROM_CF: Final = bytes.maketrans(b"-_~", b"+=/")
_MAX_POLICY_CHARS: Final = 4096
_MAX_CACHED_GRANTS: Final = 10_000


def cf_b64encode(data: bytes) -> str:
    return base64.b64encode(data).translate(_TO_CF).decode()


def cf_b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode().translate(_FROM_CF), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidSignature("malformed CloudFront signature parameter") from None


def policy_json(resource: str, expires: int) -> str:
    """The policy document, compact and in CloudFront's canned-policy field order."""
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":"))


def _sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    return cf_b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA1()))  # noqa: S303 - CloudFront accepts SHA-1 only


def _append(url: str, params: list[tuple[str, str]]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def canned_url(url: str, expires: int, key_id: str, private_key: rsa.RSAPrivateKey) -> str:
    """``url`` signed with a canned policy: valid for that exact URL until ``expires``."""
    signature = _sign(private_key, policy_json(url, expires).encode())
    params = [("Expires", str(expires)), ("Signature", signature), ("Key-Pair-Id", key_id)]
    return _append(url, params)


def custom_params(
    resource: str, expires: int, key_id: str, private_key: rsa.RSAPrivateKey
) -> list[tuple[str, str]]:
    """The custom-policy parameters for every URL matching ``resource`` until ``expires``."""
    policy = policy_json(resource, expires).encode()
    return [
        ("Policy", cf_b64encode(policy)),
        ("Signature", _sign(private_key, policy)),
        ("Key-Pair-Id", key_id),
    ]


def verify(
    url: str,
    params: Mapping[str, str],
    *,
    key_id: str,
    public_key: rsa.RSAPublicKey,
    now: float,
) -> None:
    """Check a signed URL as CloudFront does; raise :class:`InvalidSignature` if it fails.

    ``url`` is the requested URL without the signature parameters.
    """
    if params.get("Key-Pair-Id") != key_id:
        raise InvalidSignature("unknown or missing Key-Pair-Id")
    signature = cf_b64decode(params.get("Signature", ""))
    has_policy, has_expires = "Policy" in params, "Expires" in params
    if has_policy == has_expires:
        raise InvalidSignature("a signed URL has either Expires or Policy")
    if has_expires:
        raw = params["Expires"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise InvalidSignature("malformed Expires")
        expires = int(raw)
        policy = policy_json(url, expires).encode()
    else:
        if len(params["Policy"]) > _MAX_POLICY_CHARS:
            raise InvalidSignature("policy too long")
        policy = cf_b64decode(params["Policy"])
    try:
        public_key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    except RsaInvalidSignature:
        raise InvalidSignature("bad signature") from None
    if has_expires:
        _check_window(now, expires, None)
    else:
        resource, less_than, greater_than = _read_policy(policy)
        if not _matches(resource, url):
            raise InvalidSignature("the policy does not cover this URL")
        _check_window(now, less_than, greater_than)


def _read_policy(policy: bytes) -> tuple[str, int, int | None]:
    """(resource, DateLessThan, DateGreaterThan) of a policy we can enforce fully."""
    try:
        document: Any = json.loads(policy)
        (statement,) = document["Statement"]
        resource = statement["Resource"]
        condition = statement["Condition"]
        if set(condition) - {"DateLessThan", "DateGreaterThan"}:
            raise InvalidSignature("unsupported policy condition")  # e.g. IpAddress
        less_than = condition["DateLessThan"]["AWS:EpochTime"]
        greater = condition.get("DateGreaterThan", {}).get("AWS:EpochTime")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidSignature("malformed policy") from None
    if not isinstance(resource, str) or not isinstance(less_than, int):
        raise InvalidSignature("malformed policy")
    if greater is not None and not isinstance(greater, int):
        raise InvalidSignature("malformed policy")
    return resource, less_than, greater


def _matches(resource: str, url: str) -> bool:
    """CloudFront's resource wildcards: ``*`` any run of characters, ``?`` exactly one."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in resource)
    return re.fullmatch(pattern, url, flags=re.DOTALL) is not None


def _check_window(now: float, less_than: int, greater_than: int | None) -> None:
    if now >= less_than:
        raise InvalidSignature("the URL has expired")
    if greater_than is not None and now <= greater_than:
        raise InvalidSignature("the URL is not valid yet")


class CloudFrontSigner:
    """Grants a custom policy on ``{base}/i/{id}*``: one signature for all of an image.

    The wildcard after the ID would also match a longer ID that starts with this one; the
    API's IDs are fixed-length (32 hex digits, ``uuid4().hex``), so no other image matches.
    """

    def __init__(
        self,
        key_id: str,
        private_key: rsa.RSAPrivateKey,
        base_url: str,
        ttl_seconds: int,
        clock: Clock = time.time,
    ) -> None:
        self.key_id = key_id
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self._base_url = base_url.rstrip("/")
        self._ttl = ttl_seconds
        self._clock = clock
        # Expiries are rounded, so polls within one step reuse the same grant: one RSA
        # signature per image per step, not per request.
        self._grants: dict[tuple[str, int], Grant] = {}

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.time) -> CloudFrontSigner:
        name = "IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH"
        try:
            pem = Path(settings.cloudfront_private_key_path).read_bytes()
            key = serialization.load_pem_private_key(pem, password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SettingsError(f"{name}: cannot load an unencrypted PEM key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SettingsError(f"{name} must hold an RSA private key (CloudFront key groups)")
        return cls(
            settings.cloudfront_key_id,
            key,
            settings.public_base_url,
            settings.signed_url_ttl_seconds,
            clock,
        )

    def resource(self, image_id: str) -> str:
        return f"{self._base_url}{image_scope(image_id)}*"

    def grant(self, image_id: str) -> Grant:
        expires = expiry(self._clock(), self._ttl)
        cached = self._grants.get((image_id, expires))
        if cached is None:
            if len(self._grants) >= _MAX_CACHED_GRANTS:
                self._grants.clear()
            resource = self.resource(image_id)
            params = custom_params(resource, expires, self.key_id, self._private_key)
            cached = self._grants[image_id, expires] = Grant(tuple(params), expires)
        return cached

    def verify(self, image_id: str, url: str, params: Mapping[str, str]) -> None:
        verify(url, params, key_id=self.key_id, public_key=self._public_key, now=self._clock())
