"""tasks/pool.py: a job whose pool process died before its ACK was read still ends lost.

The race is forced, not waited for: the ACK of the job is held back in the result handler until
the supervisor has reaped the process that sent it, which is the order seen under load.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from billiard.pool import ApplyResult

from tasks.pool import BlockingPool, TaskPool

WAIT = 60.0  # seconds; generous for a loaded machine, never reached when the code is right


def _die_at_once() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what a decoder crash or the OOM killer does


def _answer_when(path: str) -> int:
    while not os.path.exists(path):
        threading.Event().wait(0.05)
    return 42


@pytest.fixture
def pool() -> Iterator[BlockingPool]:
    running = BlockingPool(processes=1, lost_worker_timeout=0.5)
    yield running
    running.terminate()


@pytest.fixture
def ack_after_reap(monkeypatch: pytest.MonkeyPatch, pool: BlockingPool) -> threading.Event:
    """Hold every ACK until its sender is no longer one of the pool's processes."""
    forced = threading.Event()
    original = ApplyResult._ack

    def late_ack(job: ApplyResult, i: Any, time_accepted: Any, pid: int, *rest: Any) -> Any:
        reaped = threading.Event()
        for _ in range(int(WAIT * 10)):
            if pid not in {worker.pid for worker in pool._pool}:
                reaped.set()
                break
            reaped.wait(0.1)
        if reaped.is_set():
            forced.set()
        return original(job, i, time_accepted, pid, *rest)

    monkeypatch.setattr(ApplyResult, "_ack", late_ack)
    return forced


def test_a_job_acknowledged_by_a_process_already_reaped_ends_worker_lost(
    pool: BlockingPool, ack_after_reap: threading.Event
) -> None:
    failed: list[ExceptionInfo] = []
    done = threading.Event()

    def on_error(info: ExceptionInfo) -> None:
        failed.append(info)
        done.set()

    pool.apply_async(_die_at_once, error_callback=on_error)
    assert done.wait(WAIT), "the job still waits for a process that is gone"
    assert ack_after_reap.is_set()  # the race really happened
    assert failed[0].type is WorkerLostError
    assert "SIGKILL" in str(
        failed[0].exception.exc
    )  # the reaped process's exit status, not "exitcode 0"


def test_a_new_process_reusing_a_reaped_pid_keeps_its_jobs(
    pool: BlockingPool, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    job = pool.apply_async(_answer_when, (str(go),))
    for _ in range(int(WAIT * 10)):
        if job._accepted:
            break
        threading.Event().wait(0.1)
    (pid,) = job.worker_pids()
    pool._imagepipe_exits = OrderedDict({pid: -9})  # a reaped process had this pid before
    pool._join_exited_workers()
    assert job._worker_lost is None
    go.touch()
    assert job.get(timeout=WAIT) == 42


def test_the_worker_uses_this_pool() -> None:
    from tasks.celery_app import celery_app

    assert celery_app.conf.worker_pool == "tasks.pool:TaskPool"
    assert TaskPool.BlockingPool is BlockingPool
