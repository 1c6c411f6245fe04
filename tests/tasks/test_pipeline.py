"""The chain's tasks: what a passing error, a permanent one and an orphan original end as."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import processing
from app.catalog import CatalogUnavailable, Status
from app.services import Services, build_services
from app.storage import StorageError, StorageUnavailable
from tasks import pipeline
from tests.conftest import make_settings


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    built = build_services(make_settings(tmp_path))
    monkeypatch.setattr(pipeline, "services", lambda: built)
    return built


def processing_image(svc: Services) -> str:
    svc.catalog.add(svc.new_record("img", "alice", "image/jpeg", "a.jpg"))
    processing.claim(svc, "img")
    return "img"


@pytest.mark.parametrize(
    "error", [StorageUnavailable("throttled"), CatalogUnavailable("reset by peer")]
)
def test_a_passing_error_that_outlasts_the_retries_is_not_a_failure(
    svc: Services, error: Exception
) -> None:
    image_id = processing_image(svc)
    pipeline.resize.on_failure(error, "task-id", (image_id, 1), {}, None)
    record = svc.catalog.get(image_id)
    assert record.status is Status.PROCESSING  # the reconciler requeues it
    assert record.failure_reason is None


def test_a_permanent_error_fails_the_image_with_a_reason(svc: Services) -> None:
    image_id = processing_image(svc)
    pipeline.resize.on_failure(StorageError("AccessDenied"), "task-id", (image_id, 1), {}, None)
    record = svc.catalog.get(image_id)
    assert (record.status, record.failure_reason) == (Status.FAILED, "processing_error")


def test_only_passing_errors_are_retried_by_the_task() -> None:
    assert set(pipeline.StageTask.autoretry_for) == {
        StorageUnavailable,
        CatalogUnavailable,
        pipeline.VersionConflict,
    }
    assert pipeline.StageTask.retry_jitter is True


def test_an_original_without_a_record_is_removed(svc: Services) -> None:
    svc.originals.put("stray", b"\xff\xd8\xff", content_type="image/jpeg")
    assert pipeline.ingest("stray") is None
    assert not svc.originals.exists("stray")


def test_the_event_starts_a_chain_fenced_by_its_attempt(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.catalog.add(svc.new_record("img", "alice", "image/jpeg", "a.jpg"))
    started: list[tuple[str, int | None]] = []
    monkeypatch.setattr(pipeline, "start_chain", lambda i, a=None: started.append((i, a)))
    assert pipeline.ingest("img") == "img"
    assert pipeline.ingest("img") is None  # the duplicate event
    assert started == [("img", 1)]


def test_the_process_task_starts_the_chain_of_the_attempt_it_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[str, int | None]] = []
    monkeypatch.setattr(pipeline, "start_chain", lambda i, a=None: started.append((i, a)))
    pipeline.process("img", 4)
    assert started == [("img", 4)]


@pytest.mark.parametrize(
    ("eager", "stages"),
    [
        (None, ["resize", "encode", "record"]),  # the default: no WebP or JPEG past first paint
        ("all", ["resize", "compress", "encode", "record"]),
        ("all,-jpg,-weak.webp", ["resize", "compress", "encode", "record"]),  # AVIF off's default
        ("all,-jpg,-webp,1280.webp", ["resize", "compress", "encode", "record"]),
    ],
)
def test_the_chain_has_compress_only_when_it_has_variants_to_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eager: str | None, stages: list[str]
) -> None:
    from app.eager import parse_eager

    chosen = {"eager_variants": parse_eager(eager)} if eager else {}
    built = build_services(make_settings(tmp_path, **chosen))
    monkeypatch.setattr(pipeline, "services", lambda: built)
    sent: list[Any] = []

    class Sent:
        def __init__(self, *signatures: Any) -> None:
            sent.extend(signatures)

        def apply_async(self) -> None:
            pass

    monkeypatch.setattr(pipeline, "chain", Sent)
    pipeline.start_chain("img", 3)
    assert [s.task for s in sent] == [f"imagepipe.{stage}" for stage in stages]
    assert all(tuple(s.args) == ("img", 3) for s in sent)
