"""The embedded broker's folder as one process sees it: liveness locks, in-flight claims, sweeps.

tasks/fs_transport.py (kombu's channel and transport) keeps its messages here; this module
holds what outlives a channel: the `flock`s that say a process (and so its temporary queues and
claimed messages) is alive, and the sweep that puts back what dead processes held. The layout
and the guarantees are described in tasks/fs_transport.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote

TMP, INFLIGHT, TRASH, CORRUPT = ".tmp", ".inflight", ".trash", ".corrupt"
LOCK = ".lock"
PERSISTENT = 2  # AMQP delivery_mode
MESSAGE = ".msg"


def folder_name(queue: str) -> str:
    """A queue's folder: its name quoted (no separators), never hidden (no leading dot)."""
    name = quote(queue, safe="@") or "%"
    return "%2E" + name[1:] if name.startswith(".") else name


def hold(path: Path) -> int | None:
    """Open `path` (creating it) and take a shared lock; None if it was removed meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    if _same_file(fd, path):
        _held.add(fd)
        return fd
    os.close(fd)
    return None


def release(fd: int) -> None:
    if fd in _held:  # not if a fork has closed it already
        _held.discard(fd)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _orphaned(path: Path) -> Iterator[bool]:
    """Yield True, holding an exclusive lock on `path`, when no live process holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield _same_file(fd, path)
    finally:
        os.close(fd)


# Lock descriptors this process holds. A forked child (a pool process) closes its copies, so a
# lock lives exactly as long as the process that took it.
_held: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()
    BROKERS.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


class Broker:
    """One data folder as this process sees it: its in-flight folder and its sweeps."""

    def __init__(self, root: Path, sweep_interval: float) -> None:
        self.root = root
        self.sweep_interval = sweep_interval
        self.next_sweep = 0.0
        for name in (TMP, INFLIGHT, TRASH, CORRUPT):
            (root / name).mkdir(parents=True, exist_ok=True)
        self.inflight, self._owner_fd = self._new_owner()

    def _new_owner(self) -> tuple[Path, int]:
        while True:
            token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            fd = hold(self.root / INFLIGHT / f"{token}{LOCK}")
            if fd is not None:  # a sweep cannot take it from here on
                folder = self.root / INFLIGHT / token
                folder.mkdir()
                return folder, fd

    # --- liveness of temporary queues ---

    def alive(self, queue: str, prune: Callable[[str], None]) -> bool:
        """False (after pruning it) for a temporary queue whose every process has died.

        Asked on every route: a failed non-blocking flock is one system call more than the
        open a durable queue (no lock file) costs.
        """
        folder = self.root / folder_name(queue)
        with _orphaned(folder / LOCK) as dead:
            if dead:
                prune(queue)
                self.trash(folder)
                return False
        return True

    def trash(self, folder: Path) -> None:
        """Remove a queue's folder: renamed away first, so no writer adds to what is deleted."""
        moved = self.root / TRASH / f"{folder.name}-{uuid.uuid4().hex}"
        try:
            folder.rename(moved)
        except FileNotFoundError:
            return
        shutil.rmtree(moved, ignore_errors=True)

    # --- sweeps ---

    def maybe_sweep(self, prune: Callable[[str], None]) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + self.sweep_interval
            self.sweep(prune)

    def sweep(self, prune: Callable[[str], None]) -> None:
        """Put back what dead readers claimed; delete the temporary queues of dead processes."""
        for lock in (self.root / INFLIGHT).glob(f"*{LOCK}"):
            with _orphaned(lock) as dead:
                if dead:
                    self._restore_claimed(lock.with_suffix(""))
                    lock.unlink()
        with os.scandir(self.root) as entries:
            queues = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
        for name in queues:
            if (self.root / name / LOCK).exists():
                with _orphaned(self.root / name / LOCK) as dead:
                    if dead:
                        prune(unquote(name))
                        self.trash(self.root / name)

    def _restore_claimed(self, folder: Path) -> None:
        if not folder.exists():
            return
        for claimed in folder.iterdir():
            queue_folder, _, name = claimed.name.partition("#")
            try:
                payload = json.loads(claimed.read_bytes())
                payload["redelivered"] = True  # as kombu marks what it puts back
            except (ValueError, TypeError):
                claimed.rename(self.root / CORRUPT / claimed.name)
                continue
            tmp = self.root / TMP / f"{uuid.uuid4().hex}{MESSAGE}"
            tmp.write_text(json.dumps(payload))
            try:
                tmp.rename(self.root / queue_folder / name)  # its old place in the queue
            except FileNotFoundError:  # its queue has gone
                tmp.unlink()
            claimed.unlink()
        folder.rmdir()


# One Broker per data folder in this process (cleared in a forked child).
BROKERS: dict[tuple[str, int], Broker] = {}
