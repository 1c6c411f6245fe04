"""The worker's Celery app."""

from __future__ import annotations

import logging
import resource
from functools import cache
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from app.imaging.arenas import limit_malloc_arenas
from app.imaging.warm import stop_all as stop_encoder_children
from app.services import Services, build_services
from app.settings import current
from tasks.heartbeat import Heartbeat

log = logging.getLogger(__name__)

# One remote-control reply queue per thread, not per call: tasks/remote_control.py.
celery_app = Celery("imagepipe", control="tasks.remote_control:Control")
celery_app.config_from_object("celeryconfig")
celery_app.steps["worker"].add(Heartbeat)  # `imagepipe worker-health` reads its beats

# Signal receivers: log format and request IDs, and the worker's metrics.
from tasks import logs as _logs  # noqa: E402, F401
from tasks import metrics as _metrics  # noqa: E402, F401

# Before the pool is forked, whatever the environment says (MALLOC_ARENA_MAX reaches only
# processes started with it): the pool processes and their encoding children inherit it.
limit_malloc_arenas()


@cache
def services() -> Services:
    """Built once per worker process, on first use."""
    return build_services(current())


@worker_process_init.connect
def _limit_memory(**_: Any) -> None:
    limit_malloc_arenas()  # a pool started some other way than by forking this module's process
    # A hostile file then costs one MemoryError in one task, not the machine.
    ceiling = services().settings.worker_memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > ceiling:
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    log.info("worker process memory ceiling: %d MB", ceiling // (1024 * 1024))


@worker_process_shutdown.connect
def _stop_encoder_children(**_: Any) -> None:
    # Killed and waited for here: an orphan would stay a zombie until init reaps it.
    stop_encoder_children()
