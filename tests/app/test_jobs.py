"""The API's work port counts what waits in the real broker (back-pressure reads it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from unittest.mock import patch

from botocore.client import BaseClient
from celery import Celery

from app.aws import AwsLocation, sqs_client
from app.jobs import INGEST_TASK, PROCESS_TASK, CeleryJobQueue


def broker(tmp_path: Path) -> Celery:
    """The embedded broker as celeryconfig.py sets it up, in a folder of this test's."""
    app = Celery("count-test", broker="filesystem://", set_as_current=False)
    app.conf.broker_transport = "tasks.fs_transport:Transport"
    app.conf.broker_transport_options = {
        "data_folder": str(tmp_path / "queues"),
        "control_folder": str(tmp_path / "exchanges"),
    }
    app.conf.task_default_queue = "imagepipe"
    return app


def test_backlog_counts_the_tasks_waiting_in_the_queue(tmp_path: Path) -> None:
    jobs = CeleryJobQueue(broker(tmp_path), cache_seconds=0)
    assert jobs.backlog() == 0
    for n in range(3):
        jobs.object_created(f"img{n}")
    assert jobs.backlog() == 3
    assert INGEST_TASK == "imagepipe.ingest"


def test_the_count_is_cached_briefly_so_a_flood_of_requests_lists_once(tmp_path: Path) -> None:
    jobs = CeleryJobQueue(broker(tmp_path), cache_seconds=3600)
    assert jobs.backlog() == 0
    jobs.object_created("img")
    assert jobs.backlog() == 0  # within the cache's second(s), the old count stands


def test_start_sends_the_process_task_the_worker_registers(tmp_path: Path) -> None:
    from tasks import pipeline

    jobs = CeleryJobQueue(broker(tmp_path), cache_seconds=0)
    jobs.start("img", 3)
    assert jobs.backlog() == 1
    assert pipeline.process.name == PROCESS_TASK  # the name the admin commands send by


def test_on_sqs_a_count_is_one_request_not_a_new_connection(aws: AwsLocation) -> None:
    """Back-pressure counts on each upload (at most once a second per process). A new
    connection each time lists the account's queues as well (kombu's channel does on start)."""
    sqs_client(aws).create_queue(QueueName="imagepipe")
    app = Celery("count-test", broker="sqs://testing:testing@", set_as_current=False)
    app.conf.broker_transport = "tasks.sqs_transport:Transport"
    app.conf.broker_transport_options = {"region": "us-east-1"}
    app.conf.task_default_queue = "imagepipe"
    jobs = CeleryJobQueue(app, cache_seconds=0)
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return original(client, operation, params)

    with patch.object(BaseClient, "_make_api_call", counted):
        assert [jobs.backlog() for _ in range(3)] == [0, 0, 0]
    assert calls["GetQueueAttributes"] == 3
    assert calls["ListQueues"] <= 1  # the first connection's, once
