"""Celery configuration, read from the one settings object (never from the environment directly)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from app.settings import Settings

_settings = Settings.from_env()
_scheme = urlsplit(_settings.broker_url).scheme


def _filesystem_options() -> dict[str, Any]:
    queue = _settings.data_path("broker", "queue")
    control = _settings.data_path("broker", "control")
    for folder in (queue, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(control),
        "store_processed": False,
        # The default 1 s poll would add seconds to a four-step chain.
        "polling_interval": 0.05,
    }


broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
broker_transport_options: dict[str, Any] = _filesystem_options() if _scheme == "filesystem" else {}

task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None
task_default_queue = "imagepipe"

# At-least-once: a task is acknowledged after it ran, and again delivered if its worker died.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_soft_time_limit = _settings.task_time_limit
task_time_limit = _settings.task_time_limit + 15

# Flower needs both.
worker_send_task_events = True
task_send_sent_event = True

imports = ("tasks.pipeline", "tasks.reconcile")
beat_schedule = {
    "reconcile": {"task": "imagepipe.reconcile", "schedule": 60.0},
}
beat_schedule_filename = str(_settings.data_path("celerybeat-schedule"))
