"""What processing reports about its steps, without knowing who listens (Prometheus, or nobody).

The worker installs a listener (tasks/metrics.py); the processing code and app/imaging import
no metrics library. Each timed step also writes a log line with `step` and `duration_ms`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger("imagepipe.steps")


class Observer(Protocol):
    def step(self, step: str, seconds: float, fmt: str = "") -> None:
        """A processing step (decode, resize, encode...) took this long; fmt for encodes."""
        ...

    def bytes_in(self, count: int) -> None:
        """An original of this many bytes was decoded."""
        ...

    def bytes_out(self, fmt: str, count: int) -> None:
        """Variants of this format and total size were stored."""
        ...

    def failed(self, reason: str) -> None:
        """An image failed for this reason (app/imaging/errors.py's Reason, or the task's)."""
        ...

    def ready(self, seconds: float) -> None:
        """An image became ready this long after its upload was created."""
        ...


class NoObserver:
    def step(self, step: str, seconds: float, fmt: str = "") -> None:
        return None

    def bytes_in(self, count: int) -> None:
        return None

    def bytes_out(self, fmt: str, count: int) -> None:
        return None

    def failed(self, reason: str) -> None:
        return None

    def ready(self, seconds: float) -> None:
        return None


_current: list[Observer] = [NoObserver()]


def install(observer: Observer) -> None:
    _current[0] = observer


def current() -> Observer:
    return _current[0]


def step_done(step: str, seconds: float, fmt: str = "") -> None:
    """Report a step and log it."""
    current().step(step, seconds, fmt)
    ms = round(seconds * 1000, 1)
    extra = {"step": step, "duration_ms": ms} | ({"format": fmt} if fmt else {})
    log.info("%s%s took %.1f ms", step, f" ({fmt})" if fmt else "", ms, extra=extra)


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Time the block as `step` (reported only when it ends without an exception)."""
    start = time.perf_counter()
    yield
    step_done(step, time.perf_counter() - start)
