"""The BlobStore contract: every adapter must pass every test here."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.storage import BlobNotFound, BlobStore, InvalidKey
from app.storage.filesystem import FileBlobStore
from tests.conftest import moto_blob_store

Factory = Callable[[Path], BlobStore]
ADAPTERS: dict[str, Factory] = {
    "file": lambda tmp: FileBlobStore(tmp / "blobs"),
    "s3": lambda tmp: moto_blob_store(),
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    return ADAPTERS[request.param](tmp_path)


def test_put_then_get_round_trips_bytes(store: BlobStore) -> None:
    info = store.put("a/b/c.jpg", b"\xff\xd8hello", content_type="image/jpeg")
    assert info.size == 7
    assert store.get("a/b/c.jpg") == b"\xff\xd8hello"
    assert store.stat("a/b/c.jpg").size == 7
    assert store.stat("a/b/c.jpg").etag == info.etag


def test_put_streams_from_a_file_object(store: BlobStore) -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB, more than one chunk
    store.put("big.bin", io.BytesIO(payload), content_type="application/octet-stream")
    with store.open("big.bin") as handle:
        assert handle.read() == payload


def test_etag_changes_with_content(store: BlobStore) -> None:
    first = store.put("k", b"one", content_type="text/plain").etag
    second = store.put("k", b"two", content_type="text/plain").etag
    assert first != second
    assert store.stat("k").etag == second


def test_missing_keys_raise_the_domain_error(store: BlobStore) -> None:
    for call in (store.get, store.stat, store.open):
        with pytest.raises(BlobNotFound):
            call("nope")
    with pytest.raises(BlobNotFound), store.local_copy("nope"):
        pass
    assert not store.exists("nope")
    assert store.delete("nope") is False


def test_read_range_returns_exactly_the_bytes_asked_for(store: BlobStore) -> None:
    payload = bytes(range(256)) * 40
    store.put("pack", payload, content_type="application/octet-stream")
    assert store.read_range("pack", 0, 1) == payload[:1]
    assert store.read_range("pack", 300, 2_000) == payload[300:2_300]
    assert store.read_range("pack", len(payload) - 7, 7) == payload[-7:]
    # What a record points past the end of (a pack replaced by a shorter one) is not there.
    for start, length in ((len(payload) - 7, 8), (len(payload) + 10, 5)):
        with pytest.raises(BlobNotFound):
            store.read_range("pack", start, length)
    with pytest.raises(BlobNotFound):
        store.read_range("nope", 0, 1)


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "", "a/../../b", ".hidden", "a b"])
def test_unsafe_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put(key, b"x", content_type="text/plain")


def test_local_copy_exposes_the_bytes(store: BlobStore) -> None:
    store.put("img/1", b"pixels", content_type="image/png")
    with store.local_copy("img/1") as path:
        assert path.read_bytes() == b"pixels"


def test_delete_and_list(store: BlobStore) -> None:
    for key in ("x/1", "x/2", "y/1"):
        store.put(key, b"-", content_type="text/plain")
    assert sorted(store.list("x/")) == ["x/1", "x/2"]
    assert store.delete("x/1") is True
    assert sorted(store.list()) == ["x/2", "y/1"]
    assert not store.exists("x/1")


def test_overwrite_is_atomic_for_readers(store: BlobStore) -> None:
    store.put("k", b"old" * 1000, content_type="text/plain")
    with store.open("k") as before:
        store.put("k", b"new" * 1000, content_type="text/plain")
        assert before.read() == b"old" * 1000  # the open reader keeps its version
    assert store.get("k") == b"new" * 1000


def test_url_names_the_object(store: BlobStore) -> None:
    assert store.url_for("a/b").endswith("/a/b")
    store.ping()
