"""The worker's metrics and log lines, from real task runs on the embedded backends."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from PIL import Image
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app import logs, processing
from app.catalog import Status
from app.eager import parse_eager
from app.services import Services, build_services
from tasks import metrics, pipeline
from tests.conftest import SECRET, jpeg_bytes, make_settings

STAGES = (pipeline.resize, pipeline.compress, pipeline.encode, pipeline.record)


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    # No AVIF: the encode stage encodes nothing, and still marks the image ready. Every other
    # variant made by processing, so that each format's encodes are counted.
    built = build_services(make_settings(tmp_path, avif=False, eager_variants=parse_eager("all")))
    monkeypatch.setattr(pipeline, "services", lambda: built)
    metrics.recorder.cache_clear()  # counts from this test only
    return built


@pytest.fixture
def lines(tmp_path: Path) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logs.configure(replace(make_settings(tmp_path), log_format="json"), stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)


def uploaded(svc: Services, image_id: str, data: bytes, user: str = "alice") -> None:
    record = svc.new_record(image_id, user, "image/jpeg", "a.jpg")
    svc.catalog.add(replace(record, upload_time=time.time() - 3))
    svc.originals.put(image_id, data, content_type="image/jpeg")


def scraped(svc: Services) -> dict[tuple[str, frozenset[Any]], float]:
    registry = metrics.scrape_registry(svc.settings, FixedBacklog(0))
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


class FixedBacklog:
    """A stand-in JobQueue whose backlog is known."""

    def __init__(self, count: int) -> None:
        self.count = count

    def backlog(self) -> int:
        return self.count


def value(found: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def run_chain(image_id: str, request_id: str) -> None:
    """Each stage as the worker runs it (signals and all), its message carrying the ID."""
    attempt = pipeline.ingest.apply(args=[image_id], headers={"request_id": request_id})
    assert attempt.get() is None or attempt.get() == image_id
    for stage in STAGES:
        stage.apply(args=[image_id, 1], headers={"request_id": request_id}).get()


def test_a_chain_counts_its_tasks_steps_bytes_and_time_to_ready(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "start_chain", lambda image_id, attempt=None: None)
    img = Image.new("RGB", (1400, 900), (200, 80, 40))
    data = jpeg_bytes(img, quality=90)
    uploaded(svc, "img1", data)
    run_chain("img1", "req-00000001")
    assert svc.catalog.get("img1").status is Status.READY
    found = scraped(svc)
    tasks = "imagepipe_tasks_total"
    for stage in ("ingest", "resize", "compress", "encode", "record"):
        assert value(found, tasks, task=f"imagepipe.{stage}", outcome="done") == 1, stage
    steps = "imagepipe_step_duration_seconds_count"
    assert value(found, steps, step="decode", format="") == 1
    assert value(found, steps, step="resize", format="") == 1
    # Every WebP and JPEG variant is one encode: 1400 px wide gives 320, 640 and 1280, plus the
    # two weak-network tiers, in each format.
    assert value(found, steps, step="encode", format="webp") >= 4
    assert value(found, steps, step="encode", format="jpg") >= 4
    assert value(found, steps, step="encode", format="avif") == 0
    assert value(found, "imagepipe_step_duration_seconds_sum", step="decode", format="") > 0
    assert value(found, "imagepipe_bytes_in_total") == len(data)
    stored = {v.format: 0 for v in svc.catalog.get("img1").variants}
    for v in svc.catalog.get("img1").variants:
        stored[v.format] += v.bytes
    assert value(found, "imagepipe_bytes_out_total", format="webp") == stored["webp"]
    assert value(found, "imagepipe_bytes_out_total", format="jpg") == stored["jpg"]
    assert value(found, "imagepipe_upload_to_ready_seconds_count") == 1
    assert value(found, "imagepipe_upload_to_ready_seconds_sum") >= 3  # created 3 s before
    assert value(found, "imagepipe_queue_backlog", queue=svc.settings.task_queue) == 0


def test_a_failed_image_is_counted_by_reason(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "start_chain", lambda image_id, attempt=None: None)
    uploaded(svc, "bad", b"\xff\xd8\xff\xe0 this is not a JPEG at all" * 10)
    run_chain("bad", "req-00000002")
    record = svc.catalog.get("bad")
    assert record.status is Status.FAILED
    processing.fail(svc, "bad", record.failure_reason or "", "a late retry")  # counted once
    found = scraped(svc)
    assert value(found, "imagepipe_image_failures_total", reason=record.failure_reason or "") == 1
    tasks = "imagepipe_tasks_total"
    assert value(found, tasks, task="imagepipe.resize", outcome="image_failed") == 1
    assert value(found, tasks, task="imagepipe.resize", outcome="done") == 0
    assert value(found, tasks, task="imagepipe.compress", outcome="skipped") == 1


def test_every_stage_logs_under_the_request_id_its_message_carries(
    svc: Services,
    monkeypatch: pytest.MonkeyPatch,
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    monkeypatch.setattr(pipeline, "start_chain", lambda image_id, attempt=None: None)
    photo = jpeg_bytes(Image.new("RGB", (700, 500), (10, 90, 200)))
    uploaded(svc, "img2", photo, "bob@example.com")
    run_chain("img2", "req-0000abcd")
    got = lines()
    tasks = {line.get("task") for line in got if line.get("request_id") == "req-0000abcd"}
    assert {"imagepipe.resize", "imagepipe.compress", "imagepipe.record"} <= tasks
    assert all(line["request_id"] == "req-0000abcd" for line in got if line.get("task"))
    assert all(line["image_id"] == "img2" for line in got if line.get("task"))
    steps = [line for line in got if line.get("step")]
    assert {line["step"] for line in steps} == {"decode", "resize", "encode"}
    assert all(line["duration_ms"] >= 0 for line in steps)
    hashed = logs.hashed_user(SECRET, "bob@example.com")
    assert {line.get("user_id") for line in steps} == {hashed}
    assert "bob" not in json.dumps(got)
    ready = [line for line in got if "ready" in line["message"]]
    assert ready and ready[0]["task"] == "imagepipe.encode"  # its write marks the image ready
    assert logs.context() == {}  # nothing a task or stage bound outlives it


def test_a_task_sent_while_a_task_runs_carries_its_request_id() -> None:
    """What hands the ID from one stage of the chain to the next (and to a retry)."""
    headers: dict[str, Any] = {}
    with logs.bound(request_id="req-0000feed"):
        before_task_publish.send(sender="imagepipe.compress", headers=headers)
    assert headers["request_id"] == "req-0000feed"
    untouched: dict[str, Any] = {"request_id": "req-already"}
    with logs.bound(request_id="req-0000feed"):
        before_task_publish.send(sender="imagepipe.compress", headers=untouched)
    assert untouched["request_id"] == "req-already"


def test_a_task_without_a_request_id_makes_one_for_its_chain(
    svc: Services, monkeypatch: pytest.MonkeyPatch, lines: Callable[[], list[dict[str, Any]]]
) -> None:
    seen: list[str | None] = []

    def start_chain(image_id: str, attempt: int | None = None) -> None:
        seen.append(logs.current_request_id())

    monkeypatch.setattr(pipeline, "start_chain", start_chain)
    uploaded(svc, "img3", jpeg_bytes(Image.new("RGB", (64, 64))))
    pipeline.ingest.apply(args=["img3"]).get()  # an S3 event read by tasks/ingest.py
    assert seen and seen[0]
    assert logs.current_request_id() is None  # the task's fields end with the task


def test_oldest_message_age_reads_the_embedded_brokers_names(tmp_path: Path) -> None:
    assert metrics.oldest_message_age(tmp_path / "absent") is None
    queue = tmp_path / "imagepipe"
    queue.mkdir()
    assert metrics.oldest_message_age(queue) is None
    now = 1_800_000_000.0
    for seconds_ago in (5, 42, 1):
        sent = int((now - seconds_ago) * 1e9)
        (queue / f"{sent:020d}-{seconds_ago:032x}.msg").write_bytes(b"{}")
    (queue / ".lock").write_bytes(b"")
    assert metrics.oldest_message_age(queue, now) == pytest.approx(42, abs=0.01)


def test_an_uploads_first_chain_logs_under_its_upload_request_id(
    svc: Services,
    monkeypatch: pytest.MonkeyPatch,
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """On S3 the bucket's event, not the API, starts the chain: ingest sends its own request ID,
    and the stages switch to the ID of the POST /upload that made the record."""
    monkeypatch.setattr(pipeline, "start_chain", lambda image_id, attempt=None: None)
    photo = jpeg_bytes(Image.new("RGB", (700, 500), (10, 90, 200)))
    record = svc.new_record("img3", "carol", "image/jpeg", "c.jpg", request_id="req-upload-0001")
    svc.catalog.add(record)
    svc.originals.put("img3", photo, content_type="image/jpeg")
    run_chain("img3", "req-ingest-0002")
    stages = [line for line in lines() if line.get("step")]
    assert stages and {line["request_id"] for line in stages} == {"req-upload-0001"}
