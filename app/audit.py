"""The audit trail of erasures: an append-only file of JSON lines, one receipt per line.

No image content and no user ID in clear: the subject of a user erasure is kept as
HMAC-SHA256 of the ID under a key derived from IMAGEPIPE_SECRET_KEY, so the log proves that
"the user with this ID" was erased (recompute the digest to check) without holding who.
Image IDs (random, and gone from every store) and object keys are kept, as the proof.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any, Protocol

from app.keys import derive_key
from app.storage.private import FILE_MODE, private_dir

# v2: the key comes from app.keys (HKDF); v1 receipts were keyed by HMAC(secret, label).
_KEY_PURPOSE = "imagepipe/audit-subject/v2"


class AuditLog(Protocol):
    def append(self, entry: dict[str, Any]) -> None: ...


def subject_digest(secret_key: str, user_id: str) -> str:
    key = derive_key(secret_key, _KEY_PURPOSE)
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()


class JsonLinesAuditLog:
    def __init__(self, path: Path, secret_key: str) -> None:
        self.path = path
        self._secret = secret_key
        private_dir(path.parent)

    def append(self, entry: dict[str, Any]) -> None:
        record = dict(entry)
        if record.get("scope") == "user":
            record["subject"] = "hmac-sha256:" + subject_digest(self._secret, record["subject"])
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
        # O_APPEND: each line lands whole at the end, whichever process writes; never rewritten.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
