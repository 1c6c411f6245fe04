"""Celery's prefork pool, minus a race that leaves a job waiting for a pool process already dead.

A pool process says it took a job (an ACK) and then runs it. When it dies at once, as one does
when a decoder crashes on a file's first bytes, billiard's supervisor can reap it before the
result handler has read that ACK. billiard looks for the jobs of a dead process only when it reaps
one, so the job is then credited to a process nobody will reap again: it waits for its hard time
limit (135 s) and ends as a timeout, not a lost worker; with no limit it would wait forever. Seen
under load in tests/e2e/test_hostile_worker.py (billiard 4.3).

Here every reaped process is remembered, and each time the pool is maintained (at least every
5 s), a job acknowledged by one of them takes billiard's own lost-worker path: WorkerLostError
after `lost_worker_timeout`, unless its result arrives first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from billiard.pool import Pool as BillardBlockingPool
from celery.concurrency.asynpool import AsynPool as CeleryAsynPool
from celery.concurrency.prefork import TaskPool as CeleryTaskPool

REMEMBERED_EXITS = 256  # far more than processes can exit between two maintenance passes


class _NoticesJobsOfReapedProcesses:
    """Mixed into billiard's two pools; `_pool`, `_cache` and the hooks are theirs."""

    _pool: list[Any]
    _cache: dict[Any, Any]

    def _join_exited_workers(self, shutdown: bool = False) -> Any:
        before = {worker.pid: worker for worker in self._pool}
        cleaned = super()._join_exited_workers(shutdown=shutdown)  # type: ignore[misc]
        exits = self._reaped()
        alive = {worker.pid for worker in self._pool}
        for pid, worker in before.items():
            if pid not in alive:
                exits[pid] = worker.exitcode
                exits.move_to_end(pid)
        for pid in alive & exits.keys():  # the kernel gave a new process a reaped one's pid
            del exits[pid]
        while len(exits) > REMEMBERED_EXITS:
            exits.popitem(last=False)
        for job in list(self._cache.values()):
            if job.ready() or job._worker_lost:
                continue
            gone = next((pid for pid in job.worker_pids() if pid in exits), None)
            if gone is not None:
                self.on_job_process_down(job, gone)  # type: ignore[attr-defined]
                self.on_job_process_lost(job, gone, exits[gone] or 0)  # type: ignore[attr-defined]
        return cleaned

    def _reaped(self) -> OrderedDict[int, int | None]:
        exits: OrderedDict[int, int | None] | None = getattr(self, "_imagepipe_exits", None)
        if exits is None:
            exits = OrderedDict()
            self._imagepipe_exits = exits
        return exits


class BlockingPool(_NoticesJobsOfReapedProcesses, BillardBlockingPool):  # type: ignore[misc]
    """The pool a worker uses on a broker without an event loop (the embedded one)."""


class AsynPool(_NoticesJobsOfReapedProcesses, CeleryAsynPool):  # type: ignore[misc]
    """The pool a worker uses on an event-loop broker (SQS)."""


class TaskPool(CeleryTaskPool):  # type: ignore[misc]
    """`worker_pool` in celeryconfig.py names this class."""

    Pool = AsynPool
    BlockingPool = BlockingPool
