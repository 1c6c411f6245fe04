"""Test-only tasks on the real worker app: a decoder stuck in C, and a pool process that dies.

No hostile file gets past the guards to stall a decoder (that is their job), so the hard time
limit and the lost-worker paths are driven by these two tasks. They use the real StageTask, the
real failure handling and the real catalog; only the stage body is a stand-in. The worker loads
them with `celery worker --include tests.e2e.stall_tasks`.
"""

from __future__ import annotations

import os
import signal

from tasks.celery_app import celery_app
from tasks.pipeline import StageTask


@celery_app.task(
    name="imagepipe.test.stuck_decoder", base=StageTask, soft_time_limit=1, time_limit=3
)
def stuck_decoder(image_id: str) -> bool:
    # C code does not return to the interpreter, so Celery's soft limit (SIGUSR1) never lands.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    signal.sigwait({signal.SIGUSR2})  # nobody sends it: only the hard limit ends this
    return False


# One retry instead of StageTask's five: each loss costs Celery's worker_lost_wait (10 s).
@celery_app.task(name="imagepipe.test.dying_decoder", base=StageTask, max_retries=1)
def dying_decoder(image_id: str) -> bool:
    os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
    return False


@celery_app.task(name="imagepipe.test.held_stage")
def held_stage(marker: str) -> bool:
    """A stage that runs until something kills its pool process; it says where it runs first."""
    with open(marker, "w") as out:
        out.write(str(os.getpid()))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    signal.sigwait({signal.SIGUSR2})  # nobody sends it
    return False
