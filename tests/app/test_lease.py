"""A running stage renews its image's lease; a stage of an older attempt cannot."""

from __future__ import annotations

from pathlib import Path

from app import lease, processing
from app.services import Services, build_services
from tests.conftest import make_settings
from tests.e2e.processes import wait_for


def pending(svc: Services, image_id: str = "img") -> str:
    svc.catalog.add(svc.new_record(image_id, "alice", "image/jpeg", "a.jpg"))
    return image_id


def test_a_long_stage_keeps_its_record_fresh(tmp_path: Path) -> None:
    svc = build_services(make_settings(tmp_path, lease_seconds=3))  # renewed every second
    image_id = pending(svc)
    attempt = processing.claim(svc, image_id)
    first = svc.catalog.get(image_id).updated_at
    with lease.held(svc, image_id, attempt):
        # The stage "runs" until the record shows two renewals.
        wait_for(
            lambda: True if svc.catalog.get(image_id).version >= 4 else None,
            timeout=60,
            what="two lease renewals",
        )
    assert svc.catalog.get(image_id).updated_at > first


def test_renewal_stops_once_the_image_moved_to_another_attempt(tmp_path: Path) -> None:
    svc = build_services(make_settings(tmp_path))
    image_id = pending(svc)
    old = processing.claim(svc, image_id)
    assert lease.renew(svc, image_id, old) is True
    processing.claim(svc, image_id, force=True)
    version = svc.catalog.get(image_id).version
    assert lease.renew(svc, image_id, old) is False
    assert svc.catalog.get(image_id).version == version


def test_a_stage_that_waited_in_the_queue_renews_at_once(tmp_path: Path) -> None:
    svc = build_services(make_settings(tmp_path, lease_seconds=3))
    image_id = pending(svc)
    attempt = processing.claim(svc, image_id)
    record = svc.catalog.get(image_id)
    svc.catalog.save(record.evolve())  # version +1
    stale = svc.catalog.get(image_id)
    # Make it look a lease old, as after a long wait in the queue.
    old = stale.evolve(updated_at=stale.updated_at - 10)
    _force(svc, old)
    with lease.held(svc, image_id, attempt):
        wait_for(
            lambda: True if svc.catalog.get(image_id).updated_at > stale.updated_at - 5 else None,
            timeout=30,
            what="the first renewal",
        )


def _force(svc: Services, record: object) -> None:
    """Write updated_at as given (the adapters always stamp now)."""
    import json
    import sqlite3

    from app.catalog import ImageRecord

    assert isinstance(record, ImageRecord)
    db = sqlite3.connect(svc.settings.catalog_url.removeprefix("sqlite:///"))
    db.execute(
        "UPDATE images SET updated_at = ?, doc = ? WHERE image_id = ?",
        (record.updated_at, json.dumps(record.to_dict()), record.image_id),
    )
    db.commit()
    db.close()
