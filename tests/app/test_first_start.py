"""Processes that start together on a new data folder all come up (gunicorn, Celery, Flower)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from app.catalog.sqlite import SQLiteCatalog

PROCESSES = 3
ROUNDS = 25


def _open(path: str, barrier: Any) -> str:
    barrier.wait()
    try:
        SQLiteCatalog(Path(path))
    except Exception as exc:  # noqa: BLE001 - the failure is the test's answer
        return repr(exc)
    return "ok"


def test_a_new_catalog_opened_by_several_processes_at_once(tmp_path: Path) -> None:
    # Before the first-open lock, about one round in ten failed "database is locked".
    context = multiprocessing.get_context("fork")
    failures = []
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        for n in range(ROUNDS):
            barrier = manager.Barrier(PROCESSES)
            path = str(tmp_path / f"round{n}" / "catalog.db")
            failures += [r for r in pool.starmap(_open, [(path, barrier)] * PROCESSES) if r != "ok"]
    assert failures == []
