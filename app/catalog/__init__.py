"""The image catalog: one Protocol, adapters chosen by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.catalog.base import (
    AlreadyExists,
    CatalogError,
    CatalogUnavailable,
    ImageCatalog,
    InvalidCursor,
    RecordNotFound,
    VersionConflict,
    change_once,
    mutate,
)
from app.catalog.records import ImageRecord, Page, Placeholder, Status, Usage, VariantRecord
from app.settings import file_url_path

__all__ = [
    "AlreadyExists",
    "CatalogError",
    "CatalogUnavailable",
    "ImageCatalog",
    "ImageRecord",
    "InvalidCursor",
    "Page",
    "Placeholder",
    "RecordNotFound",
    "Status",
    "Usage",
    "VariantRecord",
    "VersionConflict",
    "change_once",
    "mutate",
    "open_catalog",
]


def open_catalog(url: str) -> ImageCatalog:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from app.catalog.sqlite import SQLiteCatalog

        return SQLiteCatalog(file_url_path(url))
    if scheme == "dynamodb":
        from app.catalog.dynamodb import DynamoDBCatalog

        return DynamoDBCatalog.from_url(url)
    raise ValueError(f"no catalog for URL {url!r} (use sqlite:// or dynamodb://)")
