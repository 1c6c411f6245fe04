"""The ImageCatalog contract: every adapter must pass every test here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.catalog import (
    AlreadyExists,
    ImageCatalog,
    ImageRecord,
    InvalidCursor,
    Placeholder,
    RecordNotFound,
    Status,
    VariantRecord,
    VersionConflict,
    mutate,
)
from app.catalog.sqlite import SQLiteCatalog
from tests.conftest import moto_catalog

Factory = Callable[[Path], ImageCatalog]
ADAPTERS: dict[str, Factory] = {
    "sqlite": lambda tmp: SQLiteCatalog(tmp / "catalog.db"),
    "dynamodb": lambda tmp: moto_catalog(),
}


@pytest.fixture(params=sorted(ADAPTERS))
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ImageCatalog]:
    return ADAPTERS[request.param](tmp_path)


def record(image_id: str, user: str = "u1", t: float = 1000.0) -> ImageRecord:
    return ImageRecord(
        image_id=image_id,
        user_id=user,
        upload_time=t,
        original_url=f"file:///o/{image_id}",
        original_key=image_id,
        content_type="image/jpeg",
        filename="x.jpg",
    )


def test_add_then_get_keeps_every_field(catalog: ImageCatalog) -> None:
    full = record("a").evolve(
        status=Status.READY,
        format="jpeg",
        size=120,
        width=4000,
        height=3000,
        processed_url="http://x/i/a",
        variants=(VariantRecord("640.webp", "webp", 640, 480, 1234, "a/640.webp", "e"),),
        placeholder=Placeholder("hash", "data:image/webp;base64,xx", "#123456"),
    )
    stored = catalog.add(full)
    assert stored.version == 1
    assert catalog.get("a") == stored
    assert catalog.get("a").variants[0].width == 640


def test_duplicate_add_is_refused(catalog: ImageCatalog) -> None:
    catalog.add(record("a"))
    with pytest.raises(AlreadyExists):
        catalog.add(record("a"))


def test_unknown_id(catalog: ImageCatalog) -> None:
    with pytest.raises(RecordNotFound):
        catalog.get("missing")


def test_save_is_conditional_on_version(catalog: ImageCatalog) -> None:
    v1 = catalog.add(record("a"))
    v2 = catalog.save(v1.evolve(status=Status.PROCESSING))
    assert v2.version == 2
    with pytest.raises(VersionConflict):
        catalog.save(v1.evolve(status=Status.FAILED))  # stale writer loses
    assert catalog.get("a").status is Status.PROCESSING


def test_concurrent_mutations_lose_nothing(catalog: ImageCatalog) -> None:
    catalog.add(record("a"))

    # Every thread's first change waits until all four have read the same version, so their
    # first writes surely collide: only a conditional save keeps every increment.
    barrier = threading.Barrier(4)

    def bump() -> None:
        waiting = [True]

        def increment(r: ImageRecord) -> ImageRecord:
            if waiting and waiting.pop():
                barrier.wait(timeout=30)
            return r.evolve(attempts=r.attempts + 1)

        for _ in range(10):
            mutate(catalog, "a", increment, attempts=100)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert catalog.get("a").attempts == 40


def test_list_by_user_is_newest_first_and_paginated(catalog: ImageCatalog) -> None:
    for i in range(7):
        catalog.add(record(f"img{i}", t=1000.0 + i))
    catalog.add(record("other", user="u2", t=5000.0))
    seen: list[str] = []
    cursor = None
    while True:
        page = catalog.list_by_user("u1", limit=3, cursor=cursor)
        seen += [r.image_id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"img{i}" for i in reversed(range(7))]


def test_same_upload_time_pages_without_loss(catalog: ImageCatalog) -> None:
    for i in range(5):
        catalog.add(record(f"same{i}", t=42.0))
    first = catalog.list_by_user("u1", limit=2)
    rest = catalog.list_by_user("u1", limit=10, cursor=first.next_cursor)
    ids = [r.image_id for r in first.items + rest.items]
    assert sorted(ids) == [f"same{i}" for i in range(5)]
    assert len(set(ids)) == 5


def test_bad_cursor_is_an_error(catalog: ImageCatalog) -> None:
    with pytest.raises(InvalidCursor):
        catalog.list_by_user("u1", limit=3, cursor="not-a-cursor!")


def test_scan_pages_through_every_record_once_in_any_status(catalog: ImageCatalog) -> None:
    ids = [f"img{n:02d}" for n in range(11)]
    for n, image_id in enumerate(ids):
        added = catalog.add(record(image_id, user=f"u{n % 3}"))
        if n % 2:
            catalog.save(added.evolve(status=Status.READY))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = catalog.scan(limit=4, cursor=cursor)
        assert len(page.items) <= 4
        seen += [r.image_id for r in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == ids and len(seen) == len(ids)
    assert pages >= 3
    with pytest.raises(InvalidCursor):
        catalog.scan(limit=3, cursor="not-a-cursor!")


def test_list_stale_finds_stuck_records(catalog: ImageCatalog) -> None:
    stuck = catalog.add(record("stuck"))
    catalog.save(stuck.evolve(status=Status.PROCESSING))
    catalog.add(record("pending"))
    found = catalog.list_stale([Status.PROCESSING], updated_before=1e12, limit=10)
    assert [r.image_id for r in found] == ["stuck"]
    assert catalog.list_stale([Status.PROCESSING], updated_before=0, limit=10) == []


def test_delete(catalog: ImageCatalog) -> None:
    catalog.add(record("a"))
    assert catalog.delete("a") is True
    assert catalog.delete("a") is False
    with pytest.raises(RecordNotFound):
        catalog.get("a")
    catalog.ping()


def test_count_open_counts_a_users_recent_unfinished_images(catalog: ImageCatalog) -> None:
    catalog.add(record("old", t=100.0))
    catalog.add(record("new-pending", t=2000.0))
    working = catalog.add(record("new-processing", t=2001.0))
    catalog.save(working.evolve(status=Status.PROCESSING))
    done = catalog.add(record("new-ready", t=2002.0))
    catalog.save(done.evolve(status=Status.READY))
    catalog.add(record("someone-elses", user="u2", t=2003.0))
    assert catalog.count_open("u1", uploaded_since=1000.0) == 2
    assert catalog.count_open("u1", uploaded_since=0.0) == 3
    assert catalog.count_open("nobody", uploaded_since=0.0) == 0


def test_list_stale_finds_failed_records_for_the_retention_task(catalog: ImageCatalog) -> None:
    failed = catalog.add(record("failed"))
    catalog.save(failed.evolve(status=Status.FAILED))
    done = catalog.add(record("done"))
    catalog.save(done.evolve(status=Status.READY))
    found = catalog.list_stale([Status.FAILED], updated_before=1e12, limit=10)
    assert [r.image_id for r in found] == ["failed"]


def _processed(image_id: str, t: float, status: Status = Status.READY) -> ImageRecord:
    return record(image_id, t=t).evolve(
        status=status,
        size=300,
        width=4000,
        height=3000,
        processed_url=f"http://x/i/{image_id}",
        variants=tuple(
            VariantRecord(f"{w}.webp", "webp", w, w * 3 // 4, 10 * w, f"{image_id}/{w}.webp", "e")
            for w in (160, 640, 1280)
        ),
        placeholder=Placeholder("hash", "data:image/webp;base64,xx", "#123456"),
    )


def test_list_by_user_returns_whole_records_whatever_the_index_copies(
    catalog: ImageCatalog,
) -> None:
    # DynamoDB's by_user index copies only the keys, status and size: the listing must still
    # carry the variants and the placeholder (GET /images, erasure and export read them).
    stored = [catalog.add(_processed(f"img{i}", t=1000.0 + i)) for i in range(5)]
    seen: list[ImageRecord] = []
    cursor = None
    while True:
        page = catalog.list_by_user("u1", limit=2, cursor=cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(stored, key=lambda r: r.upload_time, reverse=True)


def test_list_stale_returns_whole_current_records(catalog: ImageCatalog) -> None:
    stuck = catalog.add(_processed("stuck", t=1.0, status=Status.PROCESSING))
    (found,) = catalog.list_stale([Status.PROCESSING], updated_before=1e12, limit=10)
    assert found == stuck  # variants, attempts, version: what the reconciler decides on


def test_usage_by_user_is_each_images_time_status_and_size(catalog: ImageCatalog) -> None:
    catalog.add(_processed("ready", t=1000.0))
    catalog.add(_processed("failed", t=1001.0, status=Status.FAILED))
    catalog.add(record("pending", t=1002.0))
    catalog.add(record("someone-elses", user="u2", t=1003.0))
    usage = {u.image_id: (u.upload_time, u.status, u.size) for u in catalog.usage_by_user("u1")}
    assert usage == {
        "ready": (1000.0, Status.READY, 300),
        "failed": (1001.0, Status.FAILED, 300),
        "pending": (1002.0, Status.PENDING, None),
    }
    assert catalog.usage_by_user("nobody") == []


def test_usage_by_user_pages_through_every_image(
    catalog: ImageCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.catalog import dynamodb

    monkeypatch.setattr(dynamodb, "_USAGE_PAGE", 2)  # the DynamoDB adapter's Query page
    catalog.add(record("same-time-a", t=5.0))
    catalog.add(record("same-time-b", t=5.0))
    for i in range(5):
        catalog.add(record(f"img{i}", t=10.0 + i))
    ids = [u.image_id for u in catalog.usage_by_user("u1")]
    assert sorted(ids) == sorted([*(f"img{i}" for i in range(5)), "same-time-a", "same-time-b"])


def test_mutate_on_a_known_record_that_went_stale_reads_again(catalog: ImageCatalog) -> None:
    # A stage saves on the version it read at its start (one read fewer); a write in between
    # (a lease renewal, a failure) must not be lost or written over.
    known = catalog.add(record("a"))
    catalog.save(known.evolve(attempts=7))  # someone else's write meanwhile
    saved = mutate(catalog, "a", lambda r: r.evolve(size=5), known=known)
    assert (saved.size, saved.attempts, saved.version) == (5, 7, 3)
    # A no-op decided on a known record is decided again on a fresh one.
    fresh = catalog.get("a")
    catalog.save(fresh.evolve(status=Status.PROCESSING))
    moved = mutate(
        catalog,
        "a",
        lambda r: r.evolve(size=6) if r.status is Status.PROCESSING else None,
        known=fresh,
    )
    assert (moved.size, moved.version) == (6, 5)


def test_a_variant_keeps_a_store_key_of_another_shape(catalog: ImageCatalog) -> None:
    moved = VariantRecord("640.webp", "webp", 640, 480, 1, "elsewhere/a-640.webp", "e")
    animated = VariantRecord("animated.webp", "webp", 640, 480, 9, "a/animated.webp", "e")
    stored = catalog.add(_processed("a", t=1.0).evolve(variants=(moved,), animated=animated))
    assert catalog.get("a") == stored
    assert catalog.list_by_user("u1", limit=5).items == [stored]
