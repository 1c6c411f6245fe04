"""Upload tickets in the shape of an S3 presigned POST, and the embedded receiver's policy check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.keys import derive_key
from app.timestamps import iso_utc

SIGNATURE_FIELD = "x-imagepipe-signature"


@dataclass(frozen=True)
class UploadTicket:
    method: str
    url: str
    fields: dict[str, str]
    expires_at: str  # ISO 8601, UTC
    max_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "fields": self.fields,
            "expires_at": self.expires_at,
            "max_bytes": self.max_bytes,
        }
        return data | self.extra


class UploadSigner(Protocol):
    def presign(self, key: str, content_type: str, max_bytes: int) -> UploadTicket: ...


class UploadRejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Policy:
    key: str
    content_type: str
    min_bytes: int
    max_bytes: int
    expires: float


_KEY_PURPOSE = "imagepipe/upload-policy/v2"


class LocalUploadSigner:
    """Signs the policy an S3 POST would carry; the app's receiver enforces it as S3 would."""

    def __init__(self, secret: str, receiver_url: str, *, ttl_seconds: int) -> None:
        self._key = derive_key(secret, _KEY_PURPOSE)
        self.receiver_url = receiver_url
        self.ttl_seconds = ttl_seconds

    def presign(self, key: str, content_type: str, max_bytes: int) -> UploadTicket:
        expires = int(time.time()) + self.ttl_seconds
        document = {
            "expiration": iso_utc(expires),
            "conditions": [
                {"key": key},
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
        }
        policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
        return UploadTicket(
            method="POST",
            url=self.receiver_url,
            fields={
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                SIGNATURE_FIELD: self._sign(policy),
            },
            expires_at=iso_utc(expires),
            max_bytes=max_bytes,
        )

    def verify(self, form: Mapping[str, str], *, now: float | None = None) -> Policy:
        """Check signature (constant time), expiry and the form's fields against the policy."""
        policy_b64 = form.get("policy", "")
        signature = form.get(SIGNATURE_FIELD, "")
        if not policy_b64 or not signature:
            raise UploadRejected(403, "missing_signature", "the form carries no signed policy")
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        given = signature.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(self._sign(policy_b64).encode(), given):
            raise UploadRejected(403, "bad_signature", "the policy signature does not match")
        policy = _parse(policy_b64)
        if (time.time() if now is None else now) > policy.expires:
            raise UploadRejected(403, "expired", "the upload form has expired; ask for a new one")
        if form.get("key") != policy.key:
            raise UploadRejected(403, "key_mismatch", "the key is not the one the policy allows")
        if form.get("Content-Type") != policy.content_type:
            raise UploadRejected(
                403, "content_type_mismatch", "the Content-Type is not the one the policy allows"
            )
        return policy

    def _sign(self, policy_b64: str) -> str:
        return hmac.new(self._key, policy_b64.encode(), hashlib.sha256).hexdigest()


def check_length(policy: Policy, length: int) -> None:
    if length < policy.min_bytes:
        raise UploadRejected(400, "entity_too_small", "the uploaded file is empty")
    if length > policy.max_bytes:
        raise UploadRejected(
            413,
            "entity_too_large",
            f"the upload is {length} bytes; the policy allows at most {policy.max_bytes}",
        )


def _parse(policy_b64: str) -> Policy:
    try:
        document = json.loads(base64.b64decode(policy_b64, validate=True))
        conditions = document["conditions"]
        exact = {k: v for c in conditions if isinstance(c, dict) for k, v in c.items()}
        (low, high) = next(
            c[1:] for c in conditions if isinstance(c, list) and c[0] == "content-length-range"
        )
        expires = datetime.fromisoformat(document["expiration"]).timestamp()
        return Policy(exact["key"], exact["Content-Type"], int(low), int(high), expires)
    except (ValueError, KeyError, TypeError, StopIteration, IndexError):
        raise UploadRejected(403, "bad_policy", "the policy document is malformed") from None
