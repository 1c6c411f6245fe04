"""The ImageCatalog capability: the source of truth for every image's state."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from app.catalog.records import ImageRecord, Page, Status, Usage


class CatalogError(Exception):
    pass


class RecordNotFound(CatalogError, KeyError):
    def __str__(self) -> str:
        return f"no image {self.args[0]!r}"


class AlreadyExists(CatalogError):
    pass


class VersionConflict(CatalogError):
    """Someone else saved the record first; read it again and retry."""


class InvalidCursor(CatalogError, ValueError):
    pass


class CatalogUnavailable(CatalogError):
    pass


class ImageCatalog(Protocol):
    def add(self, record: ImageRecord) -> ImageRecord:
        """Insert a new record at version 1; AlreadyExists if the ID is taken."""
        ...

    def get(self, image_id: str) -> ImageRecord: ...

    def save(self, record: ImageRecord) -> ImageRecord:
        """Write the record only if the stored version is still record.version.

        Returns the record at its new version; raises VersionConflict otherwise, so a replayed
        or racing writer can never regress a record.
        """
        ...

    def list_by_user(self, user_id: str, *, limit: int, cursor: str | None = None) -> Page:
        """The user's images, newest first; next_cursor is opaque."""
        ...

    def usage_by_user(self, user_id: str) -> list[Usage]:
        """Every image of the user, as its upload time, status and size: what a quota sums.

        Cheaper than reading the records: on DynamoDB, the by_user index alone.
        """
        ...

    def count_open(self, user_id: str, *, uploaded_since: float) -> int:
        """How many of the user's images uploaded since then are pending or processing."""
        ...

    def list_stale(
        self, statuses: Sequence[Status], *, updated_before: float, limit: int
    ) -> list[ImageRecord]:
        """Records in one of the statuses that nobody has touched since updated_before."""
        ...

    def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        """Every record, in an order stable across calls, a page at a time (admin commands:
        stats, reprocess --all); next_cursor is opaque and None after the last page."""
        ...

    def delete(self, image_id: str) -> bool: ...

    def ping(self) -> None: ...


def mutate(
    catalog: ImageCatalog,
    image_id: str,
    change: Callable[[ImageRecord], ImageRecord | None],
    *,
    attempts: int = 8,
    known: ImageRecord | None = None,
) -> ImageRecord:
    """Read, change and save with optimistic concurrency; `change` returning None means no-op.

    ``known``: the record as the caller read it a moment ago, tried first instead of a read
    (one strongly consistent read fewer); if it is no longer current the save is refused and
    the record is read again, as after any conflict. A no-op is decided on a fresh read only.
    """
    for _ in range(attempts):
        guessed, known = known, None
        current = guessed if guessed is not None else catalog.get(image_id)
        updated = change(current)
        if updated is None:
            if guessed is not None:
                continue  # perhaps stale: read it and decide again
            return current
        try:
            return catalog.save(updated)
        except VersionConflict:
            continue
    raise VersionConflict(f"{image_id}: gave up after {attempts} conflicting writes")


def change_once(
    catalog: ImageCatalog, image_id: str, change: Callable[[ImageRecord], ImageRecord | None]
) -> ImageRecord | None:
    """Like `mutate`, but says whether this call wrote: the saved record, or None if it did not.

    Comparing versions before and after would be wrong: another writer in between also moves
    the version.
    """
    wrote = False

    def decide(record: ImageRecord) -> ImageRecord | None:
        nonlocal wrote
        updated = change(record)
        wrote = updated is not None  # the last decision is the one that was saved, or not
        return updated

    result = mutate(catalog, image_id, decide)
    return result if wrote else None


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise InvalidCursor("cursor is not one this API issued") from None
    if not isinstance(value, dict):
        raise InvalidCursor("cursor is not one this API issued")
    return value
