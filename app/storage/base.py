"""The BlobStore capability: named bytes in a bucket or a folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import unquote


class StorageError(Exception):
    """Base of the domain errors every adapter raises instead of vendor errors."""


class BlobNotFound(StorageError, KeyError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object at key {self.key!r}"


class InvalidKey(StorageError, ValueError):
    pass


class StorageUnavailable(StorageError):
    pass


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    etag: str
    content_type: str | None = None


_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")


def check_key(key: str) -> str:
    """Keys are relative, slash-separated names: no '..', no absolute paths, no odd bytes."""
    segments = key.split("/")
    if not key or any(not _SEGMENT.match(s) or s in (".", "..") for s in segments):
        raise InvalidKey(f"invalid object key {key!r}")
    return key


class BlobStore(Protocol):
    """Stores objects by key. Writes are atomic: a reader sees the old object or the new one."""

    url: str

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> BlobInfo: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> IO[bytes]: ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (one ranged GET on S3): a variant in a pack."""
        ...

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A path to the object's bytes on local disk for as long as the context lasts."""
        ...

    def stat(self, key: str) -> BlobInfo: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove the object; True when something was removed."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]: ...

    def url_for(self, key: str) -> str:
        """The canonical location, e.g. s3://bucket/prefix/key or file:///abs/path."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the backend cannot be reached."""
        ...


def image_id_from_key(key: str) -> str:
    """Original keys are the image ID; S3 events URL-encode them."""
    return unquote(key).rsplit("/", 1)[-1]
