"""The catalog is the truth, the queue a hint: find images whose task was lost, as a plan.

A running stage renews its image's lease (app/lease.py), so a record in `processing` that has
not been touched for a lease is not being worked on. Either its next task waits in the queue, or
the task is gone: a worker killed with SIGKILL takes the message it held with it on the
filesystem broker, and on SQS hides it for a whole visibility timeout. With the queue empty the
task is surely gone (the reconciler's own beat messages aside), and the image is requeued after
one lease; while the queue still holds work it may be waiting there, and is requeued only after
IMAGEPIPE_STUCK_AFTER_SECONDS. The new chain carries a new attempt number, so the old one, if it
was only slow, does nothing when it wakes.

`plan` decides and changes nothing; `apply` carries a plan out. The beat task
(tasks/reconcile.py) and `imagepipe reconcile` (with or without --dry-run) share both, so a dry
run shows exactly what a pass does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from app import processing
from app.catalog import ImageRecord, Status
from app.services import Services

# Requeues of one image before it is failed: a worker dying on it this often is the image's doing.
MAX_ATTEMPTS = 5
# The reconciler's own messages share the queue (beat sends one every third of a lease, each
# expiring before the next): a queue holding no more than these holds no image's task.
BEAT_SLACK = 2

# What a step does: start a chain (requeue a stuck image, start a received upload whose event
# was lost) or record a failure (too many attempts; the upload never came).
REQUEUE, START, FAIL, EXPIRE = "requeue", "start", "fail", "expire"
STARTS = (REQUEUE, START)

_FAILURES = {
    "processing_timeout": "no result after {r.attempts} attempts; a worker died or timed out"
    " each time",
    "upload_missing": "the upload never arrived",
}


@dataclass(frozen=True)
class Step:
    image_id: str
    action: str  # REQUEUE, START, FAIL or EXPIRE
    why: str  # for people: what was seen
    status: str
    attempts: int
    idle_seconds: float
    version: int  # the record as planned: a record changed since is left to the next pass
    reason: str | None = None  # the failure reason recorded (FAIL, EXPIRE)
    detail: str | None = None


@dataclass(frozen=True)
class Plan:
    backlog: int
    idle_for: float  # how long a record must sit untouched to count as stuck, at this backlog
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "idle_for": self.idle_for,
            "steps": [asdict(s) for s in self.steps],
        }


def plan(svc: Services, *, backlog: int = 0, limit: int = 500, now: float | None = None) -> Plan:
    """What a pass would do now; reads the catalog and the originals, writes nothing."""
    now = time.time() if now is None else now
    settings = svc.settings
    # With work still queued, an idle image may just be waiting its turn.
    idle_for = settings.lease_seconds if backlog <= BEAT_SLACK else settings.stuck_after_seconds
    stuck = svc.catalog.list_stale([Status.PROCESSING], updated_before=now - idle_for, limit=limit)
    # A received upload whose event was lost looks the same; an unreceived one waits for its form.
    unclaimed = svc.catalog.list_stale(
        [Status.PENDING],
        updated_before=now - min(idle_for, settings.upload_ttl_seconds),
        limit=limit,
    )
    form_expired = now - settings.upload_ttl_seconds - 60
    steps = [_decide(svc, r, form_expired, now) for r in stuck + unclaimed]
    return Plan(backlog, float(idle_for), [s for s in steps if s is not None])


def apply(svc: Services, planned: Plan, start: Callable[[str, int], None]) -> dict[str, int]:
    """Carry the plan out: {"requeued": n, "failed": n}. Each step claims or fails the record
    only if it is still the version planned, so a stale plan does nothing harmful."""
    counts = {"requeued": 0, "failed": 0}
    for step in planned.steps:
        if step.action in STARTS:
            attempt = processing.claim(svc, step.image_id, force=True, version=step.version)
            if attempt is not None:
                start(step.image_id, attempt)
                counts["requeued"] += 1
        elif step.reason is not None:
            processing.fail(svc, step.image_id, step.reason, step.detail or "")
            counts["failed"] += 1
    return counts


def _decide(svc: Services, record: ImageRecord, form_expired: float, now: float) -> Step | None:
    def step(action: str, why: str, reason: str | None = None) -> Step:
        detail = _FAILURES[reason].format(r=record) if reason else None
        return Step(
            image_id=record.image_id,
            action=action,
            why=why,
            status=record.status.value,
            attempts=record.attempts,
            idle_seconds=round(now - record.updated_at, 1),
            version=record.version,
            reason=reason,
            detail=detail,
        )

    pending = record.status is Status.PENDING
    if pending and record.received_at is None:
        if record.updated_at >= form_expired:
            return None  # the form is still valid: the upload may yet come
    elif record.attempts >= MAX_ATTEMPTS:
        return step(FAIL, f"{record.attempts} attempts without a result", "processing_timeout")
    if not svc.originals.exists(record.original_key):
        if pending:
            unused = record.received_at is None
            why = "its upload form expired unused" if unused else "its received upload is gone"
            return step(EXPIRE, why, "upload_missing")
        return step(FAIL, "its original is not in the store", "upload_missing")
    if pending:
        return step(START, "its upload was stored but no event started it")
    return step(REQUEUE, "processing, but no stage has renewed its lease")
