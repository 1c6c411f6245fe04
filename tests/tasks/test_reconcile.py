"""The reconciler: a lost task is found and requeued, a queued one is left alone, and a requeued
image is never worked on by two chains at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app import processing, working_pyramid
from app.catalog import Status
from app.services import Services, build_services
from tasks.reconcile import BEAT_SLACK, MAX_ATTEMPTS, reconcile_once
from tests.conftest import make_settings, photo

LEASE = 30


@pytest.fixture
def svc(tmp_path: Path) -> Services:
    return build_services(make_settings(tmp_path, lease_seconds=LEASE, stuck_after_seconds=600))


def uploaded(svc: Services, image_id: str = "img") -> str:
    with photo("mate_Storm.jpg").open("rb") as handle:
        svc.originals.put(image_id, handle, content_type="image/jpeg")
    svc.catalog.add(svc.new_record(image_id, "alice", "image/jpeg", "storm.jpg"))
    return image_id


class Started(list[tuple[str, int]]):
    def __call__(self, image_id: str, attempt: int) -> None:
        self.append((image_id, attempt))


def test_an_idle_image_is_requeued_one_lease_after_its_worker_died(svc: Services) -> None:
    image_id = uploaded(svc)
    assert processing.claim(svc, image_id) == 1
    started = Started()
    now = time.time()
    assert reconcile_once(svc, started, now=now + LEASE / 2) == {"requeued": 0, "failed": 0}
    assert reconcile_once(svc, started, now=now + LEASE + 1) == {"requeued": 1, "failed": 0}
    assert started == [(image_id, 2)]
    assert svc.catalog.get(image_id).attempts == 2


def test_the_reconcilers_own_messages_in_the_queue_do_not_hold_it_back(svc: Services) -> None:
    image_id = uploaded(svc)
    processing.claim(svc, image_id)
    started = Started()
    later = time.time() + LEASE + 1
    assert reconcile_once(svc, started, backlog=BEAT_SLACK, now=later)["requeued"] == 1


def test_while_the_queue_holds_work_an_idle_image_may_be_waiting_its_turn(svc: Services) -> None:
    image_id = uploaded(svc)
    processing.claim(svc, image_id)
    started = Started()
    now = time.time()
    assert reconcile_once(svc, started, backlog=40, now=now + LEASE + 1)["requeued"] == 0
    assert reconcile_once(svc, started, backlog=40, now=now + 601)["requeued"] == 1
    assert started == [(image_id, 2)]


def test_a_received_upload_whose_event_was_lost_is_started(svc: Services) -> None:
    from app.uploads import single_use

    image_id = uploaded(svc)
    assert single_use.receive(svc.catalog, image_id)
    waiting = uploaded(svc, "form-not-used-yet")
    started = Started()
    assert reconcile_once(svc, started, now=time.time() + LEASE + 1)["requeued"] == 1
    assert started == [(image_id, 1)]
    assert svc.catalog.get(waiting).status is Status.PENDING  # its form is still valid


def test_an_image_requeued_too_often_fails_and_does_not_block_others(svc: Services) -> None:
    poison, fine = uploaded(svc, "poison"), uploaded(svc, "fine")
    processing.claim(svc, poison)
    started = Started()
    later = time.time()
    for _ in range(MAX_ATTEMPTS + 1):  # its worker dies every time
        later += LEASE + 1
        reconcile_once(svc, started, now=later)
    assert [a for i, a in started if i == poison] == list(range(2, MAX_ATTEMPTS + 1))
    record = svc.catalog.get(poison)
    assert (record.status, record.failure_reason) == (Status.FAILED, "processing_timeout")
    attempt = processing.claim(svc, fine)
    assert attempt is not None
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        assert stage(svc, fine, attempt)
    assert svc.catalog.get(fine).status is Status.READY


def test_a_stale_chain_does_nothing_once_its_image_was_requeued(svc: Services) -> None:
    image_id = uploaded(svc)
    old = processing.claim(svc, image_id)
    assert old == 1
    assert processing.resize(svc, image_id, old)
    new = processing.claim(svc, image_id, force=True)  # what the reconciler does
    assert new == 2
    before = svc.catalog.get(image_id)
    for stage in (processing.compress, processing.encode, processing.record):
        assert stage(svc, image_id, old) is False  # the old chain wakes up: fenced off
    assert svc.catalog.get(image_id) == before
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        assert stage(svc, image_id, new)
    record = svc.catalog.get(image_id)
    assert record.status is Status.READY
    assert len({v.name for v in record.variants}) == len(record.variants)


def test_every_task_delivered_twice_makes_one_set_of_variants(svc: Services) -> None:
    image_id = uploaded(svc)
    attempt = processing.claim(svc, image_id)
    assert processing.claim(svc, image_id) is None  # the duplicate event starts nothing
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        stage(svc, image_id, attempt)
        stage(svc, image_id, attempt)  # redelivered
    record = svc.catalog.get(image_id)
    assert record.status is Status.READY
    names = [v.name for v in record.variants]
    assert len(names) == len(set(names))
    stored = set(svc.variants.list(f"{image_id}/"))
    # One set, nothing extra: what processing makes (the rest is made on first request).
    assert stored == {v.key for v in record.variants if not v.on_request}
    assert not svc.variants.exists(working_pyramid.master_key(image_id))
