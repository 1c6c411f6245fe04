"""Celery configuration, read from the one settings object (never from the environment directly).

Importing it reads the settings and writes no file (tests/test_celeryconfig.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu.pidbox import Mailbox

from app.settings import current

_settings = current()
_scheme = urlsplit(_settings.broker_url).scheme


def _filesystem_options() -> dict[str, Any]:
    """tasks/fs_transport.py: a folder per queue, whole messages, temporary queues that go."""
    # New folder names: the layout of kombu's plain transport (broker/queue, broker/control) is
    # not read, and its leftovers there can be deleted.
    # Importing this module writes nothing: the transport makes these folders when it connects.
    queues = _settings.data_path("broker", "queues")
    exchanges = _settings.data_path("broker", "exchanges")
    return {
        "data_folder": str(queues),
        "data_folder_in": str(queues),
        "data_folder_out": str(queues),
        "control_folder": str(exchanges),
        "store_processed": False,
        # Each hop of the chain waits for a poll: kombu's default 1 s would add seconds, 50 ms
        # kept the first usable variant over 300 ms; 10 ms costs an idle worker ~3% of a core
        # (bench/worker_latency.py, docs/benchmarks.md).
        "polling_interval": 0.01,
    }


def _sqs_options() -> dict[str, Any]:
    """kombu[sqs]: long polls, a visibility timeout above the longest task, SNS for broadcasts."""
    from app.aws import task_visibility_timeout

    options: dict[str, Any] = {
        "visibility_timeout": task_visibility_timeout(_settings),
        "wait_time_seconds": _settings.sqs_wait_seconds,
        # A long poll already waits for work; a pause after an empty one only adds latency.
        "polling_interval": 0 if _settings.sqs_wait_seconds else 1,
    }
    if _settings.events_fanout:
        # Celery's events and remote-control commands (what Flower shows and does) through SNS
        # topics, and the replies to the asking client's queue: tasks/sqs_transport.py.
        options["supports_fanout"] = True
        options["fanout_exchanges"] = [event_exchange, Mailbox.exchange_fmt % control_exchange]
        options["reply_exchanges"] = [Mailbox.reply_exchange_fmt % control_exchange]
    if _settings.aws_region:
        options["region"] = _settings.aws_region
    if _settings.task_queue_url:
        # Locked-down IAM: use this existing queue and never create one.
        options["predefined_queues"] = {_settings.task_queue: {"url": _settings.task_queue_url}}
    return options


broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
event_exchange = "celeryev"
control_exchange = "celery"  # Celery's default, named here for the transport's exchange names
_transport_options = {"filesystem": _filesystem_options, "sqs": _sqs_options}.get(_scheme)
broker_transport_options: dict[str, Any] = _transport_options() if _transport_options else {}
if _scheme == "sqs":
    broker_transport = "tasks.sqs_transport:Transport"
elif _scheme == "filesystem":
    broker_transport = "tasks.fs_transport:Transport"

task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = None
task_default_queue = _settings.task_queue

# At-least-once: a task is acknowledged after it ran, and again delivered if its worker died.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_concurrency = _settings.worker_concurrency
task_soft_time_limit = _settings.task_time_limit
task_time_limit = _settings.task_time_limit + 15
# Prefork, with the jobs of a pool process that died before its ACK was read failed as lost.
worker_pool = "tasks.pool:TaskPool"

# Flower needs both; each costs requests per task on AWS (IMAGEPIPE_TASK_EVENTS, capacity.md).
worker_send_task_events = _settings.task_events
task_send_sent_event = _settings.task_events

imports = ("tasks.pipeline", "tasks.reconcile", "tasks.retention")
# Three rounds a lease: an image whose worker died runs again within about 1.3 leases of its
# last renewal once the queue is empty (tasks/reconcile.py).
beat_schedule = {
    "reconcile": {
        "task": "imagepipe.reconcile",
        "schedule": _settings.lease_seconds / 3,
        # One waiting behind a long queue is outdated by the next; do not let them pile up.
        "options": {"expires": _settings.lease_seconds / 3},
    },
    # GDPR retention (app/retention.py): hourly is plenty for limits counted in days.
    "retention": {"task": "imagepipe.retention", "schedule": 3600.0, "options": {"expires": 3600}},
}
beat_schedule_filename = str(_settings.data_path("celerybeat-schedule"))
