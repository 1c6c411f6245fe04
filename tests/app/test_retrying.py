"""Passing backend errors are retried call by call; the rest reach the caller at once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.catalog import RecordNotFound
from app.catalog.sqlite import SQLiteCatalog
from app.retrying import retrying
from app.storage import BlobNotFound, StorageUnavailable
from app.storage.filesystem import FileBlobStore


class Flaky:
    """Fails the first `failures` calls of put, reading part of the stream first."""

    def __init__(self, inner: FileBlobStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    def put(self, key: str, data: io.BytesIO, **kwargs: str) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            data.read(3)  # a reset half way through the body
            raise StorageUnavailable("connection reset")
        return self.inner.put(key, data, **kwargs)

    def get(self, key: str) -> bytes:
        self.calls += 1
        return self.inner.get(key)


def test_a_passing_error_is_retried_and_the_stream_starts_again(tmp_path: Path) -> None:
    flaky = Flaky(FileBlobStore(tmp_path), failures=3)
    store = retrying(flaky, base=0.001)
    stream = io.BytesIO(b"0123456789")
    stream.seek(2)  # the caller's own position is where each attempt starts
    store.put("a", stream, content_type="text/plain")
    assert flaky.calls == 4
    assert FileBlobStore(tmp_path).get("a") == b"23456789"


def test_it_gives_up_after_the_attempts(tmp_path: Path) -> None:
    flaky = Flaky(FileBlobStore(tmp_path), failures=100)
    with pytest.raises(StorageUnavailable):
        retrying(flaky, attempts=3, base=0.001).put("a", io.BytesIO(b"x"), content_type="t/p")
    assert flaky.calls == 3


def test_a_permanent_error_is_not_retried(tmp_path: Path) -> None:
    flaky = Flaky(FileBlobStore(tmp_path), failures=0)
    with pytest.raises(BlobNotFound):
        retrying(flaky).get("missing")
    assert flaky.calls == 1
    with pytest.raises(RecordNotFound):
        retrying(SQLiteCatalog(tmp_path / "c.db")).get("missing")


def test_a_locked_sqlite_database_is_a_passing_error(tmp_path: Path) -> None:
    import sqlite3

    from app.catalog import CatalogUnavailable, ImageRecord

    catalog = SQLiteCatalog(tmp_path / "c.db")
    holder = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than we wait
    catalog._db().execute("PRAGMA busy_timeout=50")
    record = ImageRecord("a", "u", 1.0, "file:///a", "a", "image/jpeg", "a.jpg")
    try:
        with pytest.raises(CatalogUnavailable):
            catalog.add(record)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
