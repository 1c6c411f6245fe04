"""The hourly retention task, on the embedded catalog and on DynamoDB (moto)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.catalog import Status, mutate
from app.services import Services, build_services
from app.settings import Settings, SettingsError
from tasks import retention
from tests.conftest import make_settings, moto_catalog


@pytest.fixture(params=["sqlite", "dynamodb"])
def svc(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Services:
    built = build_services(make_settings(tmp_path, failed_retention_days=1))
    if request.param == "dynamodb":
        built = Services(built.settings, built.originals, built.variants, moto_catalog())
    monkeypatch.setattr(retention, "services", lambda: built)
    return built


def test_failed_images_past_their_retention_are_erased(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.catalog.add(svc.new_record("old-failure", "alice", "image/jpeg", "a.jpg"))
    mutate(svc.catalog, "old-failure", lambda r: r.evolve(status=Status.FAILED))
    svc.originals.put("old-failure", b"%PDF-1.4", content_type="image/jpeg")
    svc.catalog.add(svc.new_record("fresh", "alice", "image/jpeg", "b.jpg"))
    monkeypatch.setattr(time, "time", lambda real=time.time: real() + 2 * 24 * 3600)
    report = retention.retention()
    assert report["images_erased"] >= 1
    assert not svc.originals.exists("old-failure")


def test_original_retention_on_dynamodb_points_to_the_bucket_rule(tmp_path: Path) -> None:
    aws = {
        "IMAGEPIPE_CATALOG_URL": "dynamodb://images",
        "IMAGEPIPE_SECRET_KEY": "k" * 32,
        "IMAGEPIPE_DATA_DIR": str(tmp_path),
        "IMAGEPIPE_ORIGINAL_RETENTION_DAYS": "30",
    }
    with pytest.raises(SettingsError, match="originalsRetentionDays"):
        Settings.from_env(aws)
