"""`imagepipe reconcile`: the dry run prints the beat task's plan and changes nothing; without
--dry-run the same plan is carried out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app import processing
from app.catalog import Status
from app.catalog.sqlite import SQLiteCatalog
from app.reconciler import MAX_ATTEMPTS
from app.services import Services
from tests.app.cli.conftest import Cli


def long_ago(run: Cli) -> Services:
    """The test's stores, with a catalog whose clock reads an hour ago (records left idle)."""
    svc = run.services
    old = SQLiteCatalog(run.tmp / "catalog.db", clock=lambda: time.time() - 3600)
    return Services(svc.settings, svc.originals, svc.variants, old)


def original(svc: Services, image_id: str) -> None:
    svc.originals.put(image_id, b"\xff\xd8 bytes", content_type="image/jpeg")


def scene(run: Cli) -> dict[str, Status]:
    """One image of each kind the reconciler acts on, plus one it must leave alone."""
    svc = long_ago(run)
    for image_id in ("stuck", "hopeless", "unevented", "expired", "fine"):
        svc.catalog.add(svc.new_record(image_id, "alice", "image/jpeg", "x.jpg"))
    for image_id in ("stuck", "hopeless", "unevented"):
        original(svc, image_id)
    processing.claim(svc, "stuck")
    for _ in range(MAX_ATTEMPTS):
        processing.claim(svc, "hopeless", force=True)
    fresh = run.services  # written now: "fine" is being worked on
    processing.claim(fresh, "fine")
    return {i: svc.catalog.get(i).status for i in ("stuck", "hopeless", "unevented", "fine")}


def test_dry_run_prints_the_plan_and_changes_nothing(run: Cli) -> None:
    before = scene(run)
    versions = {i: run.services.catalog.get(i).version for i in before}
    status, out, _ = run("reconcile", "--dry-run")
    assert status == 0
    lines = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert set(lines) == {"stuck", "hopeless", "unevented", "expired"}
    assert lines["stuck"].startswith("requeue ") and "lease" in lines["stuck"]
    assert lines["hopeless"].startswith("fail ") and "processing_timeout" in lines["hopeless"]
    assert lines["unevented"].startswith("start ") and "no event" in lines["unevented"]
    assert lines["expired"].startswith("expire ") and "upload_missing" in lines["expired"]
    assert run.jobs.started == []
    assert {i: run.services.catalog.get(i).version for i in before} == versions


def test_without_dry_run_one_pass_does_what_the_plan_said(run: Cli) -> None:
    scene(run)
    plan = run.json("reconcile", "--dry-run", "--json")
    assert plan["dry_run"] is True and plan["backlog"] == 0
    planned = {s["image_id"]: s["action"] for s in plan["steps"]}
    status, out, err = run("reconcile", "--json")
    assert status == 0
    assert {s["image_id"]: s["action"] for s in json.loads(out)["steps"]} == planned
    assert "2 started, 2 failed" in err
    assert sorted(run.jobs.started) == [("stuck", 2), ("unevented", 1)]
    catalog = run.services.catalog
    assert catalog.get("hopeless").failure_reason == "processing_timeout"
    assert catalog.get("expired").failure_reason == "upload_missing"
    assert catalog.get("fine").status is Status.PROCESSING and catalog.get("fine").attempts == 1
    # Nothing left to do: a second pass plans nothing.
    assert run.json("reconcile", "--dry-run", "--json")["steps"] == []


def test_a_busy_queue_is_read_from_the_job_queue_and_holds_requeues_back(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEPIPE_STUCK_AFTER_SECONDS", "7200")  # the scene is an hour idle
    scene(run)
    run.jobs.queued = 50  # work waiting: an idle image may just be waiting its turn
    plan = run.json("reconcile", "--dry-run", "--json")
    assert plan["backlog"] == 50
    assert plan["idle_for"] == run.services.settings.stuck_after_seconds
    assert "stuck" not in {s["image_id"] for s in plan["steps"]}


def test_the_layering_keeps_the_plan_in_app(tmp_path: Path) -> None:
    import app.reconciler
    import tasks.reconcile

    assert tasks.reconcile.reconciler is app.reconciler  # one code path for beat and CLI


def test_a_record_that_moved_on_after_the_plan_is_left_alone(run: Cli) -> None:
    from app import reconciler

    scene(run)
    svc = run.services
    planned = reconciler.plan(svc)
    assert "stuck" in {s.image_id for s in planned.steps}
    processing.claim(svc, "stuck", force=True)  # someone requeued it meanwhile (attempt 2)
    counts = reconciler.apply(svc, planned, run.jobs.start)
    assert ("stuck", 3) not in run.jobs.started and counts["requeued"] == 1  # "unevented" only
    assert svc.catalog.get("stuck").attempts == 2
