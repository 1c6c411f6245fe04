"""ImageCatalog on one SQLite file in WAL mode: the embedded mode's table."""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.catalog.base import (
    AlreadyExists,
    CatalogUnavailable,
    InvalidCursor,
    RecordNotFound,
    VersionConflict,
    decode_cursor,
    encode_cursor,
)
from app.catalog.records import ImageRecord, Page, Status, Usage
from app.storage.private import private_file

# Each entry moves the schema one version forward; PRAGMA user_version records how far we are.
# Plain statements, not executescript(), which would commit the migration's transaction early.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE images (
            image_id    TEXT PRIMARY KEY,
            user_id     TEXT NOT NULL,
            upload_time REAL NOT NULL,
            status      TEXT NOT NULL,
            version     INTEGER NOT NULL,
            updated_at  REAL NOT NULL,
            doc         TEXT NOT NULL
        )""",
        "CREATE INDEX images_by_user ON images (user_id, upload_time DESC, image_id DESC)",
        "CREATE INDEX images_by_status ON images (status, updated_at)",
    ),
)


def _transient(exc: sqlite3.OperationalError) -> bool:
    """Locked, busy or I/O trouble passes; a missing table or bad SQL does not."""
    text = str(exc).lower()
    return any(word in text for word in ("locked", "busy", "disk i/o", "unable to open"))


@contextmanager
def _errors(path: Path) -> Iterator[None]:
    """SQLite's passing errors become CatalogUnavailable, which callers retry."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _transient(exc):
            raise CatalogUnavailable(f"{path}: {exc}") from exc
        raise


class SQLiteCatalog:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._local = threading.local()
        # 0600 before SQLite opens it; its -wal and -shm files take the database's mode.
        private_file(path)
        # Processes starting together (gunicorn's workers, Celery, Flower) would race to switch
        # a new file to WAL, and the loser gets "database is locked" at once (no busy wait for
        # that lock): the first open and migration go one process at a time.
        lock = private_file(path.with_name(path.name + ".lock"))
        with lock.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._migrate()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def _execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        with _errors(self.path):
            return self._db().execute(sql, params)

    def _migrate(self) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            (current,) = db.execute("PRAGMA user_version").fetchone()
            for number, statements in enumerate(_MIGRATIONS[current:], start=current + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def add(self, record: ImageRecord) -> ImageRecord:
        stored = record.evolve(version=1, updated_at=self._clock())
        try:
            self._execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                _row(stored),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(record.image_id) from None
        return stored

    def get(self, image_id: str) -> ImageRecord:
        row = self._execute("SELECT doc FROM images WHERE image_id = ?", (image_id,)).fetchone()
        if row is None:
            raise RecordNotFound(image_id)
        return ImageRecord.from_dict(json.loads(row[0]))

    def save(self, record: ImageRecord) -> ImageRecord:
        stored = record.evolve(version=record.version + 1, updated_at=self._clock())
        image_id, _user, _t, status, version, updated_at, doc = _row(stored)
        cursor = self._execute(
            "UPDATE images SET status = ?, version = ?, updated_at = ?, doc = ?"
            " WHERE image_id = ? AND version = ?",
            (status, version, updated_at, doc, image_id, record.version),
        )
        if cursor.rowcount != 1:
            self.get(image_id)  # RecordNotFound when it is gone rather than newer
            raise VersionConflict(f"{image_id} is no longer at version {record.version}")
        return stored

    def list_by_user(self, user_id: str, *, limit: int, cursor: str | None = None) -> Page:
        params: list[object] = [user_id]
        where = "user_id = ?"
        if cursor:
            position = decode_cursor(cursor)
            try:
                after_time, after_id = float(position["t"]), str(position["id"])
            except (KeyError, TypeError, ValueError):
                raise InvalidCursor("cursor is not one this API issued") from None
            where += " AND (upload_time < ? OR (upload_time = ? AND image_id < ?))"
            params += [after_time, after_time, after_id]
        rows = self._execute(
            f"SELECT doc FROM images WHERE {where}"  # noqa: S608 - only placeholders interpolated
            " ORDER BY upload_time DESC, image_id DESC LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        items = [ImageRecord.from_dict(json.loads(doc)) for (doc,) in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor({"t": last.upload_time, "id": last.image_id})
        return Page(items=items, next_cursor=next_cursor)

    def usage_by_user(self, user_id: str) -> list[Usage]:
        rows = self._execute(
            "SELECT doc FROM images WHERE user_id = ? ORDER BY upload_time DESC, image_id DESC",
            (user_id,),
        ).fetchall()
        records = [ImageRecord.from_dict(json.loads(doc)) for (doc,) in rows]
        return [Usage(r.image_id, r.upload_time, r.status, r.size) for r in records]

    def count_open(self, user_id: str, *, uploaded_since: float) -> int:
        (count,) = self._execute(
            "SELECT COUNT(*) FROM images WHERE user_id = ? AND upload_time >= ?"
            " AND status IN (?, ?)",
            (user_id, uploaded_since, Status.PENDING.value, Status.PROCESSING.value),
        ).fetchone()
        return int(count)

    def list_stale(
        self, statuses: Sequence[Status], *, updated_before: float, limit: int
    ) -> list[ImageRecord]:
        marks = ",".join("?" for _ in statuses)
        rows = self._execute(
            f"SELECT doc FROM images WHERE status IN ({marks}) AND updated_at < ?"  # noqa: S608
            " ORDER BY updated_at LIMIT ?",
            (*[s.value for s in statuses], updated_before, limit),
        ).fetchall()
        return [ImageRecord.from_dict(json.loads(doc)) for (doc,) in rows]

    def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        after = ""
        if cursor:
            after = decode_cursor(cursor).get("id", "")
            if not isinstance(after, str) or not after:
                raise InvalidCursor("cursor is not one this API issued")
        rows = self._execute(
            "SELECT doc FROM images WHERE image_id > ? ORDER BY image_id LIMIT ?",
            (after, limit + 1),
        ).fetchall()
        items = [ImageRecord.from_dict(json.loads(doc)) for (doc,) in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor({"id": items[-1].image_id}) if more else None)

    def delete(self, image_id: str) -> bool:
        cursor = self._execute("DELETE FROM images WHERE image_id = ?", (image_id,))
        return cursor.rowcount == 1

    def ping(self) -> None:
        try:
            self._execute("SELECT 1 FROM images LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise CatalogUnavailable(f"{self.path}: {exc}") from exc


def _row(record: ImageRecord) -> tuple[str, str, float, str, int, float, str]:
    return (
        record.image_id,
        record.user_id,
        record.upload_time,
        record.status.value,
        record.version,
        record.updated_at,
        json.dumps(record.to_dict(), separators=(",", ":")),
    )
