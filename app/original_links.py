"""Short-lived download links to an original, handed only to its owner (or an admin).

``GET /image/{id}`` keeps the paper's ``original_url`` field, but as one of these links rather
than a server path or a bucket path. The original keeps its EXIF (GPS included), so a link:

* expires soon (``IMAGEPIPE_ORIGINAL_LINK_TTL_SECONDS``, 5 minutes by default);
* is always a download (``Content-Disposition: attachment``, ``application/octet-stream``),
  never rendered inline, whatever the uploaded bytes claim to be.

Two adapters, chosen by the originals URL: S3 presigned GETs, or the embedded route
``/original/{id}?exp=..&sig=..`` with an HMAC under a key derived for this use only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from app.catalog import ImageRecord
from app.delivery.signing import InvalidSignature, expiry
from app.keys import derive_key
from app.settings import Settings
from app.storage import BlobStore

_KEY_PURPOSE = "imagepipe/original-download/v2"


class OriginalLinks(Protocol):
    def link(self, record: ImageRecord) -> str:
        """A URL that downloads the record's original until it expires."""
        ...


class LocalOriginalLinks:
    """Embedded: links to the app's own /original/{id}, signed with HMAC-SHA256."""

    def __init__(
        self,
        secret_key: str,
        base_url: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = derive_key(secret_key, _KEY_PURPOSE)
        self._base = base_url
        self._ttl = ttl_seconds
        self._clock = clock

    def link(self, record: ImageRecord) -> str:
        expires = expiry(self._clock(), self._ttl, step=60)
        query = urlencode({"exp": expires, "sig": self._mac(record.image_id, expires)})
        return f"{self._base}/original/{record.image_id}?{query}"

    def verify(self, image_id: str, params: Mapping[str, str]) -> None:
        raw = params.get("exp", "")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise InvalidSignature("this download needs a signed link (exp, sig)")
        expected = self._mac(image_id, int(raw))
        given = params.get("sig", "").encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise InvalidSignature("bad signature")
        if int(raw) <= self._clock():
            raise InvalidSignature("the link has expired; ask GET /image/{id} for a new one")

    def _mac(self, image_id: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{image_id}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class PresignedOriginalLinks:
    """AWS: S3 presigned GETs that force a download (the store signs; no boto3 here)."""

    def __init__(self, store: BlobStore, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    def link(self, record: ImageRecord) -> str:
        presign = getattr(self._store, "presigned_download", None)
        if presign is None:
            raise TypeError(f"{self._store.url} cannot presign downloads")
        url: str = presign(
            record.original_key, filename=download_name(record.filename), ttl_seconds=self._ttl
        )
        return url


def original_links(settings: Settings, originals: BlobStore) -> OriginalLinks:
    ttl = settings.original_link_ttl_seconds
    if urlsplit(settings.originals_url).scheme == "s3":
        return PresignedOriginalLinks(originals, ttl)
    return LocalOriginalLinks(settings.secret_key.reveal(), settings.public_base_url, ttl)


def download_name(filename: str) -> str:
    """A safe ASCII filename for Content-Disposition (the original name is user input)."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    return kept.strip("._")[:100] or "original"
