"""Blob storage: one Protocol, adapters chosen by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.settings import file_url_path
from app.storage.base import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    InvalidKey,
    StorageError,
    StorageUnavailable,
    check_key,
)

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "InvalidKey",
    "StorageError",
    "StorageUnavailable",
    "check_key",
    "open_blob_store",
]


def open_blob_store(url: str) -> BlobStore:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from app.storage.filesystem import FileBlobStore

        return FileBlobStore(file_url_path(url))
    if scheme == "s3":
        from app.storage.s3 import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"no blob store for URL {url!r} (use file:// or s3://)")
