"""The worker-latency benchmark runs end to end: a real worker, the first variant before ready."""

from __future__ import annotations

from bench.worker_latency import measure
from tests.conftest import photo


def test_measure_times_first_usable_then_ready_through_a_real_worker() -> None:
    result = measure(photo("lomiri16_Dragonfly_by_Bolly.jpg"), runs=1)
    assert len(result["first"]) == len(result["all"]) == 1
    assert 0 < result["first"][0] < result["all"][0]
