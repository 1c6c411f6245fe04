"""Keys derived from IMAGEPIPE_SECRET_KEY: one derivation, a distinct key for each purpose.

HKDF-SHA256 (RFC 5869) with the purpose as `info`: a signature made for one use (an upload form,
a delivery URL, an original's download link, an audit subject) can never verify for another, and
none of them is the secret itself.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32


@lru_cache(maxsize=64)  # a handful of purposes; derived on every request otherwise
def derive_key(secret: str, purpose: str) -> bytes:
    """The 32-byte key for ``purpose`` (a versioned label such as "imagepipe/upload-policy/v2")."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(secret.encode())
