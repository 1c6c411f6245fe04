"""Backends that fail or stall on purpose: the injected-fault tests (docs/robustness.md).

`faulty(target, rate=0.2)` raises the Protocol's "unavailable" error on about one call in five
(before the call does anything, as a throttle or a refused connection would) and slows some of
the others down. The platform wraps it in its own retry layer exactly as it wraps a real adapter.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from app.catalog import CatalogUnavailable
from app.storage import StorageUnavailable

T = TypeVar("T")


class Faulty:
    def __init__(
        self,
        target: object,
        error: type[Exception],
        *,
        rate: float,
        slow: float,
        seed: int | None,
    ) -> None:
        self._target = target
        self._error = error
        self._rate = rate
        self._slow = slow
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.failures = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value) or name.startswith("_"):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
                roll = self._random.random()
                fail = roll < self._rate
                self.failures += fail
            if fail:
                raise self._error(f"injected fault in {name}")
            if roll > 1 - self._slow:
                time.sleep(0.05)  # a slow answer, not a timing assertion
            return value(*args, **kwargs)

        return call


def faulty_store(target: T, *, rate: float = 0.2, slow: float = 0.2, seed: int | None = None) -> T:
    return cast(T, Faulty(target, StorageUnavailable, rate=rate, slow=slow, seed=seed))


def faulty_catalog(
    target: T, *, rate: float = 0.2, slow: float = 0.2, seed: int | None = None
) -> T:
    return cast(T, Faulty(target, CatalogUnavailable, rate=rate, slow=slow, seed=seed))


def counts(wrapped: object) -> Callable[[], tuple[int, int]]:
    """(failures injected, calls made) of a faulty_* object."""
    faulty = cast(Faulty, wrapped)
    return lambda: (faulty.failures, faulty.calls)
