"""The reconciler's beat task: one pass of app/reconciler.py's plan, applied.

The plan (what is stuck, what to requeue or fail, and why) lives in app/ so that
`imagepipe reconcile --dry-run` shows exactly what this task would do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

from app import reconciler
from app.jobs import CeleryJobQueue
from app.reconciler import BEAT_SLACK, MAX_ATTEMPTS
from app.services import Services
from tasks.celery_app import celery_app, services
from tasks.pipeline import start_chain

__all__ = ["BEAT_SLACK", "MAX_ATTEMPTS", "reconcile", "reconcile_once"]

log = logging.getLogger(__name__)


@cache
def _jobs() -> CeleryJobQueue:
    return CeleryJobQueue(celery_app, cache_seconds=0)


@celery_app.task(name="imagepipe.reconcile", ignore_result=True, shared=False)
def reconcile(limit: int = 500) -> dict[str, int]:
    return reconcile_once(services(), start_chain, backlog=_jobs().backlog(), limit=limit)


def reconcile_once(
    svc: Services,
    start: Callable[[str, int], None],
    *,
    backlog: int = 0,
    limit: int = 500,
    now: float | None = None,
) -> dict[str, int]:
    planned = reconciler.plan(svc, backlog=backlog, limit=limit, now=now)
    counts = reconciler.apply(svc, planned, start)
    if any(counts.values()):
        log.info("reconciler (backlog %d): %s", backlog, counts)
    return counts
