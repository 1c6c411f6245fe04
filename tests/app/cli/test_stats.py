"""`imagepipe stats`: statuses, failure reasons, stored bytes by tier and width, backlog; on
the embedded backends and, through the same Protocols, on AWS (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from app.catalog import ImageCatalog, ImageRecord, Status, VariantRecord
from tests.app.cli.conftest import Cli
from tests.conftest import moto_catalog


def fill(catalog: ImageCatalog) -> None:
    def record(image_id: str, **changes: Any) -> None:
        added = catalog.add(
            ImageRecord(
                image_id, "alice", 1.0, f"file:///o/{image_id}", image_id, "image/jpeg", "x"
            )
        )
        if changes:
            catalog.save(added.evolve(**changes))

    variants = (
        VariantRecord("640.webp", "webp", 640, 427, 1000, "r1/640.webp"),
        VariantRecord("640.jpg", "jpeg", 640, 427, 3000, "r1/640.jpg"),
        VariantRecord("160-lq.webp", "webp", 160, 107, 200, "r1/160-lq.webp", tier="lq"),
    )
    record("r1", status=Status.READY, size=2048, variants=variants)
    record("r2", status=Status.READY, size=1, variants=variants[:1])
    record("f1", status=Status.FAILED, failure_reason="corrupt")
    record("f2", status=Status.FAILED, failure_reason="corrupt")
    record("f3", status=Status.FAILED, failure_reason="pixel_limit")
    record("p1")
    record("w1", status=Status.PROCESSING)


def check(report: dict[str, Any], backlog: int) -> None:
    assert report["images"] == 7
    assert report["by_status"] == {"pending": 1, "processing": 1, "ready": 2, "failed": 3}
    assert report["failure_reasons"] == {"corrupt": 2, "pixel_limit": 1}
    stored = report["stored_bytes"]
    assert stored["originals"] == (2048 + 1) * 1024 and stored["originals_counted"] == 2
    assert stored["variants"] == 2 * 1000 + 3000 + 200
    assert stored["variants_by_tier"] == {
        "lq/webp": 200,
        "standard/jpeg": 3000,
        "standard/webp": 2000,
    }
    assert stored["variants_by_width"] == {"160": 200, "640": 5000}
    assert report["queue"] == {"backlog": backlog, "error": None}


def test_stats_on_the_embedded_backends(run: Cli) -> None:
    fill(run.services.catalog)
    run.jobs.queued = 12
    check(run.json("stats", "--json"), backlog=12)
    status, out, _ = run("stats")
    assert status == 0
    assert "  failed: 3" in out and "  corrupt: 2" in out and "queue backlog: 12" in out
    assert "standard/jpeg: 2.9 KiB (3000 B)" in out


def test_stats_on_aws_through_the_same_protocols(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.aws import s3_client

    catalog = moto_catalog("imagepipe-images")  # starts moto in this process
    for bucket in ("imagepipe-originals", "imagepipe-variants"):
        s3_client().create_bucket(Bucket=bucket)
    for name, value in {
        "IMAGEPIPE_ORIGINALS_URL": "s3://imagepipe-originals/originals",
        "IMAGEPIPE_VARIANTS_URL": "s3://imagepipe-variants/variants",
        "IMAGEPIPE_CATALOG_URL": "dynamodb://imagepipe-images",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    fill(catalog)
    run.jobs.queued = 3
    check(run.json("stats", "--json"), backlog=3)


def test_a_broker_that_cannot_be_reached_is_reported_not_a_crash(run: Cli) -> None:
    def down() -> int:
        raise ConnectionRefusedError("connection refused")

    run.jobs.backlog = down  # type: ignore[method-assign]
    report = run.json("stats", "--json")
    assert report["queue"]["backlog"] is None
    assert "connection refused" in report["queue"]["error"]
