"""The decode sandbox tells a child that is decoding slowly from one that is stuck asleep.

The stuck child here is the hazard itself: a lock that another thread of the parent holds at the
moment of the fork stays held in the child for ever.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from app.imaging import sandbox
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits
from tests.e2e.processes import run_python

LIMITS = replace(Limits(), decode_seconds=5.0)  # time enough to reach the lock on a busy machine
_held = threading.Lock()


def _take_the_lock(marker: str) -> int:
    """In the child: say it started, then take the lock the parent's thread held at the fork."""
    Path(marker, str(os.getpid())).touch()
    with _held:
        return 7


def _spin() -> None:
    while True:
        pass


class LockHolder(threading.Thread):
    """Holds `_held` until `release` is set; the parent forks while it does."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.holding = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        with _held:
            self.holding.set()
            self.release.wait()


def test_a_child_stuck_on_a_lock_from_the_fork_is_run_again_in_a_new_one(tmp_path: Path) -> None:
    holder = LockHolder()
    holder.start()
    assert holder.holding.wait(10)
    # The first child stalls on the copy of the held lock; before the second fork the holder
    # lets go once the first child has started (its marker file), so the second one gets it.
    releaser = threading.Thread(target=_release_after_first_child, args=(tmp_path, holder))
    releaser.start()
    assert sandbox.run_limited(_take_the_lock, str(tmp_path), limits=LIMITS) == 7
    releaser.join()
    assert len(list(tmp_path.iterdir())) == 2  # two children: the stuck one and its successor


def _release_after_first_child(folder: Path, holder: LockHolder) -> None:
    while not any(folder.iterdir()):
        threading.Event().wait(0.01)  # polls for the file; the test's result does not depend on it
    holder.release.set()
    holder.join()


def test_a_child_stuck_twice_is_a_decode_timeout_that_says_so(tmp_path: Path) -> None:
    holder = LockHolder()
    holder.start()
    assert holder.holding.wait(10)
    try:
        with pytest.raises(ImageRejected) as stopped:
            sandbox.run_limited(_take_the_lock, str(tmp_path), limits=LIMITS)
    finally:
        holder.release.set()
        holder.join()
    assert stopped.value.reason is Reason.DECODE_TIMEOUT
    assert "made no progress in 5 s, twice (state S" in stopped.value.detail
    assert len(list(tmp_path.iterdir())) == 2


def test_a_child_that_keeps_computing_is_a_decode_timeout_at_once() -> None:
    with pytest.raises(ImageRejected) as stopped:
        sandbox.run_limited(_spin, limits=replace(LIMITS, decode_seconds=1.0))
    assert stopped.value.reason is Reason.DECODE_TIMEOUT
    assert "took longer than 1 s and was stopped" in stopped.value.detail
    assert "CPU-s used" in stopped.value.detail


def test_the_plugins_are_imported_before_the_fork_not_in_the_child(tmp_path: Path) -> None:
    # A fresh interpreter, as a new pool process is: after one decode, the parent itself holds
    # every module the child's decode needs, so no child of it imports anything.
    image = tmp_path / "small.png"
    Image.new("RGB", (32, 24), "teal").save(image)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.imaging import sandbox\n"
        "from app.imaging.limits import Limits\n"
        "assert 'pillow_heif' not in sys.modules\n"
        f"master = sandbox.load_master(Path({str(image)!r}), Limits())\n"
        "held = sorted(m for m in ('pillow_heif', 'pillow_avif') if m in sys.modules)\n"
        "print(master.width, held)\n"
    )
    done = run_python("-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "32 ['pillow_avif', 'pillow_heif']"
