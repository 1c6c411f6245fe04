"""Reprocess images (after the variant set changes): one, a user's, or all, resumably.

Each image goes the way an upload goes: `processing.claim_again` moves the record to
`processing` with a new attempt number, and the job queue starts that attempt's chain, so
attempt fencing and leases hold as for any upload. Only ready images are taken (and failed ones
when asked); a pending or processing image is skipped (its chain is on it), an erased one too.

Resuming: a run is named by its scope and keeps a checkpoint under the data folder (the time
it began and the listing cursor of the page in hand). A record written after the run began was
requeued by it (or processed since, by the current code), so a run started again after Ctrl-C
skips it and requeues nothing twice; the cursor spares it re-reading pages already done. The
checkpoint is removed when a run ends.

Old variants: the new chain writes over every name the current set still has; a variant no
longer in the set stays stored, recorded and served at its URL (pages and caches may hold it:
variant URLs are immutable) until the image is erased. While it runs, the image is
`processing` and its old variants are still served.

Each reprocess is one more attempt: the reconciler fails an image whose attempts reach its
MAX_ATTEMPTS (5) if a worker then dies on it. The progress bar's total costs one listing pass
before the work (on DynamoDB, a Scan of the table).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app import processing
from app.catalog import ImageRecord, Page, RecordNotFound, Status
from app.jobs import ChainStarter
from app.services import Services
from app.storage.private import private_dir

PAGE = 100


@dataclass(frozen=True)
class Scope:
    """What to reprocess: one image, a user's images, or all (exactly one is set)."""

    image_id: str | None = None
    user_id: str | None = None
    everything: bool = False

    @property
    def name(self) -> str:
        if self.image_id:
            return f"image-{self.image_id}"
        return f"user-{self.user_id}" if self.user_id else "all"


@dataclass
class Checkpoint:
    scope: str
    started_at: float
    cursor: str | None = None  # the page in hand: re-read on resume
    requeued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def seen(self) -> int:
        return self.requeued + sum(self.skipped.values())


class Checkpoints:
    """One JSON file per scope under the data folder's reprocess/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, scope: Scope) -> Path:
        return self.folder / f"{scope.name}.json"

    def load(self, scope: Scope) -> Checkpoint | None:
        try:
            data = json.loads(self.path(scope).read_text())
        except FileNotFoundError:
            return None
        return Checkpoint(**data)

    def save(self, checkpoint: Checkpoint, scope: Scope) -> None:
        private_dir(self.folder)
        path = self.path(scope)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(asdict(checkpoint)))
        tmp.replace(path)  # whole or not at all: a Ctrl-C never leaves half a checkpoint

    def clear(self, scope: Scope) -> None:
        self.path(scope).unlink(missing_ok=True)


class Pacer:
    """At most `rate` per second, evenly spaced (no bursts after a slow stretch either)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


def decide(
    svc: Services, image_id: str, jobs: ChainStarter, *, since: float, include_failed: bool
) -> str:
    """Requeue one image: "requeued", or why it was skipped."""
    try:
        record = svc.catalog.get(image_id)
    except RecordNotFound:
        return "erased"
    why = _skip(svc, record, since, include_failed)
    if why:
        return why
    attempt = processing.claim_again(svc, image_id, untouched_since=since)
    if attempt is None:
        return "changed meanwhile"
    jobs.start(image_id, attempt)
    return "requeued"


def _skip(svc: Services, record: ImageRecord, since: float, include_failed: bool) -> str | None:
    if record.updated_at >= since:
        return "done since the run began"
    if record.status in (Status.PENDING, Status.PROCESSING):
        return f"{record.status.value} (its chain is on it)"
    if record.status is Status.FAILED and not include_failed:
        return "failed (pass --include-failed to retry)"
    if not record.original_url or not svc.originals.exists(record.original_key):
        return "original removed"
    return None


def pages(svc: Services, scope: Scope, cursor: str | None) -> Iterator[tuple[str | None, Page]]:
    """(the cursor that read it, the page) for each page of the scope, from `cursor` on."""
    while True:
        if scope.user_id:
            page = svc.catalog.list_by_user(scope.user_id, limit=PAGE, cursor=cursor)
        else:
            page = svc.catalog.scan(limit=PAGE, cursor=cursor)
        yield cursor, page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def count(svc: Services, scope: Scope) -> int:
    if scope.image_id:
        return 1
    return sum(len(page.items) for _, page in pages(svc, scope, None))


def run(
    svc: Services,
    jobs: ChainStarter,
    scope: Scope,
    checkpoints: Checkpoints,
    *,
    pacer: Pacer,
    include_failed: bool = False,
    progress: Callable[[Checkpoint, str, str], None] = lambda c, i, o: None,
    now: Callable[[], float] = time.time,
) -> Checkpoint:
    """Reprocess the scope, resuming its checkpoint if one is kept; returns the final tally.

    `progress(checkpoint, image_id, outcome)` is called after each image.
    """
    state = checkpoints.load(scope) or Checkpoint(scope.name, now())
    if scope.image_id:
        outcome = decide(
            svc, scope.image_id, jobs, since=state.started_at, include_failed=include_failed
        )
        _tally(state, outcome)
        progress(state, scope.image_id, outcome)
        return state
    checkpoints.save(state, scope)
    for cursor, page in pages(svc, scope, state.cursor):
        state.cursor = cursor
        checkpoints.save(state, scope)
        for record in page.items:
            pacer.wait()
            outcome = decide(
                svc, record.image_id, jobs, since=state.started_at, include_failed=include_failed
            )
            _tally(state, outcome)
            progress(state, record.image_id, outcome)
    checkpoints.clear(scope)
    return state


def _tally(state: Checkpoint, outcome: str) -> None:
    if outcome == "requeued":
        state.requeued += 1
    else:
        state.skipped[outcome] = state.skipped.get(outcome, 0) + 1
