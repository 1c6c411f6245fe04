"""Retention: originals expire (the image stays), abandoned and failed uploads are removed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from app.api import create_app
from app.catalog import Status, mutate
from app.retention import expire_originals, remove_abandoned
from app.services import Services, build_services
from tests.app.erasure_fixtures import keys_of, stored_image
from tests.conftest import RecordingJobs, make_settings

DAY = 24 * 3600
Auth = Callable[..., dict[str, str]]


def _services(tmp_path: Path, **settings: object) -> Services:
    return build_services(make_settings(tmp_path, **settings))


def test_originals_expire_after_the_retention_and_the_image_stays(tmp_path: Path) -> None:
    services = _services(tmp_path, original_retention_days=30)
    stored_image(services, "old", "alice")
    now = time.time()
    assert expire_originals(services, now=now + 29 * DAY).originals_deleted == []
    report = expire_originals(services, now=now + 31 * DAY)
    assert report.originals_deleted == ["old"]
    assert not services.originals.exists("old")
    record = services.catalog.get("old")
    assert record.status is Status.READY and record.original_url == ""
    assert len(keys_of(services, {"old"})) == 4  # the variants and the working master remain
    # Running again finds nothing more to do.
    assert expire_originals(services, now=now + 62 * DAY).originals_deleted == []


def test_zero_retention_keeps_originals(tmp_path: Path) -> None:
    services = _services(tmp_path, original_retention_days=0)
    stored_image(services, "old", "alice")
    assert expire_originals(services, now=time.time() + 3650 * DAY).originals_deleted == []
    assert services.originals.exists("old")


def test_an_expired_original_gets_no_download_link(tmp_path: Path, auth: Auth) -> None:
    settings = make_settings(tmp_path, original_retention_days=1)
    services = build_services(settings)
    stored_image(services, "old", "alice")
    expire_originals(services, now=time.time() + 2 * DAY)
    client: FlaskClient = create_app(
        settings, services=services, jobs=RecordingJobs()
    ).test_client()
    body = client.get("/image/old", headers=auth("alice")).get_json()
    assert body["original_url"] is None
    assert body["variants"]  # still delivered


def test_abandoned_and_old_failed_uploads_are_removed(tmp_path: Path) -> None:
    services = _services(tmp_path, abandoned_upload_seconds=3600, failed_retention_days=7)
    services.catalog.add(services.new_record("never-sent", "alice", "image/jpeg", "a.jpg"))
    stored_image(services, "failed", "alice")
    mutate(services.catalog, "failed", lambda r: r.evolve(status=Status.FAILED))
    stored_image(services, "fine", "alice")
    now = time.time()
    assert remove_abandoned(services, now=now + 1800).images_erased == []
    assert remove_abandoned(services, now=now + 7200).images_erased == ["never-sent"]
    report = remove_abandoned(services, now=now + 8 * DAY)
    assert report.images_erased == ["failed"]
    assert keys_of(services, {"failed", "never-sent"}) == []
    ids = [r.image_id for r in services.catalog.list_by_user("alice", limit=10).items]
    assert ids == ["fine"]
