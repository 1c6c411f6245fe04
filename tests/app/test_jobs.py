"""The API's work port counts what waits in the real broker (back-pressure reads it)."""

from __future__ import annotations

from pathlib import Path

from celery import Celery

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
