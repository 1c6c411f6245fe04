"""BlobStore on a local folder: the embedded mode's bucket."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO

from app.storage.base import BlobInfo, BlobNotFound, StorageUnavailable, check_key
from app.storage.private import FILE_MODE, private_dir

_CHUNK = 1 << 20


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root).resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # check_key already refuses '..'; this also refuses symlinks that leave the root.
        if self.root not in path.resolve().parents:
            raise BlobNotFound(key)
        return path

    def put(
        self,
        key: str,
        data: bytes | IO[bytes],
        *,
        content_type: str,
        cache_control: str | None = None,
    ) -> BlobInfo:
        path = self._path(key)
        private_dir(path.parent)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(data):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.chmod(tmp, FILE_MODE)  # personal data: this user only (mkstemp's default too)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return BlobInfo(key=key, size=size, etag=digest.hexdigest(), content_type=content_type)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None

    def read_range(self, key: str, start: int, length: int) -> bytes:
        with self.open(key) as f:
            f.seek(start)
            data = f.read(length)
        if len(data) != length:  # a pack replaced by a shorter one: not what was recorded
            raise BlobNotFound(key)
        return data

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        yield path

    def stat(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        if not path.is_file():
            raise BlobNotFound(key)
        return BlobInfo(key=key, size=st.st_size, etag=_md5(path, st.st_size, st.st_mtime_ns))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        for parent in path.parents:
            if parent == self.root:
                break
            try:
                parent.rmdir()
            except OSError:
                break
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        # Walk only the prefix's folder: listing one image's keys must not read the whole store.
        folder = prefix.rpartition("/")[0]
        start = self._path(folder) if folder else self.root
        for dirpath, _dirs, files in os.walk(start):
            for name in sorted(files):
                if name.startswith(".incoming-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def url_for(self, key: str) -> str:
        return self._path(key).as_uri()

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"{self.root} is not writable")


def _chunks(data: bytes | IO[bytes]) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    while chunk := data.read(_CHUNK):
        yield chunk


@lru_cache(maxsize=4096)
def _md5(path: Path, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the cache key, so a replaced file is hashed again.
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
