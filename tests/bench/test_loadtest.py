"""The load test's own logic: its open-loop schedule, its percentiles, and its latency clock."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from bench.loadtest import OpenLoop, corpus_photos, percentile, schedule, summary
from tests.e2e.processes import wait_for


def test_the_schedule_is_fixed_rate_bounded_by_duration_and_count() -> None:
    assert schedule(10, 1) == pytest.approx([i / 10 for i in range(10)])
    assert schedule(300, 60) == pytest.approx([i / 300 for i in range(18_000)])
    assert schedule(10, 1, count=3) == pytest.approx([0.0, 0.1, 0.2])
    assert schedule(0.5, 3) == [0.0, 2.0]
    assert schedule(0, 10) == schedule(5, 0) == []


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7
    assert percentile([1.0, 2.0], 50) == 1
    assert math.isnan(percentile([], 50))
    assert summary([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2, "p90": 3, "p99": 3, "max": 3}


def test_a_request_that_waited_for_a_sender_counts_its_wait() -> None:
    """Open loop: latency runs from the scheduled time, so a stalled server shows as latency."""
    release = threading.Event()

    def job(index: int) -> str | None:
        if index == 0:
            release.wait(timeout=60)  # the first answer is slow; the others queue behind it
        return None if index % 4 else ("refused" if index else None)

    loop = OpenLoop([i * 0.01 for i in range(8)], job, threads=1)
    runner = threading.Thread(target=loop.run, args=(loop.clock(),))
    runner.start()
    wait_for(lambda: True if loop.dispatched.is_set() else None, timeout=60, what="dispatch")
    release.set()
    runner.join(timeout=60)

    outcomes = sorted(loop.outcomes, key=lambda o: o.index)
    assert [o.index for o in outcomes] == list(range(8))
    for outcome in outcomes:
        assert outcome.started >= outcome.scheduled
        assert outcome.latency == outcome.done - outcome.scheduled
    # Every later request was sent late, behind the slow one, and its latency includes that.
    for outcome in outcomes[1:]:
        assert outcome.latency >= outcome.started - outcome.scheduled > 0
    assert [o.index for o in outcomes if not o.ok] == [4]
    assert loop.errors() == {"refused": 1}
    assert len(loop.latencies()) == 7


def test_uploads_are_the_folders_images_only(tmp_path: Path) -> None:
    for name in ("b.HEIC", "a.jpg", "MANIFEST.tsv", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in corpus_photos(tmp_path)] == ["a.jpg", "b.HEIC"]
    assert corpus_photos()  # the shared corpus, or the committed fixtures where it is absent
