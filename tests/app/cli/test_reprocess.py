"""`imagepipe reprocess`: through the uploads' claim and chain, resumable, rate-limited."""

from __future__ import annotations

import pytest

from app import processing
from app.admin import reprocess
from app.catalog import Status
from app.services import Services
from tests.app.cli.conftest import Cli
from tests.app.erasure_fixtures import stored_image
from tests.conftest import photo


def ready_photo(svc: Services, image_id: str = "img1") -> str:
    with photo("mate_Storm.jpg").open("rb") as handle:
        svc.originals.put(image_id, handle, content_type="image/jpeg")
    svc.catalog.add(svc.new_record(image_id, "alice", "image/jpeg", "storm.jpg"))
    attempt = processing.claim(svc, image_id)
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        stage(svc, image_id, attempt)
    return image_id


def test_one_image_is_claimed_and_its_chain_started_fenced_like_an_upload(run: Cli) -> None:
    svc = run.services
    image_id = ready_photo(svc)
    status, out, _ = run("reprocess", "--image", image_id)
    assert status == 0, out
    assert run.jobs.started == [(image_id, 2)]
    assert svc.catalog.get(image_id).status is Status.PROCESSING
    # The first chain's stages, were they to run late, are fenced off by the new attempt.
    assert processing.record(svc, image_id, 1) is False
    for stage in (processing.resize, processing.compress, processing.encode, processing.record):
        assert stage(svc, image_id, 2)
    record = svc.catalog.get(image_id)
    assert record.status is Status.READY and record.attempts == 2
    assert "requeued 1" in out


def test_a_processing_or_unknown_image_is_not_requeued(run: Cli) -> None:
    svc = run.services
    stored_image(svc, "busy", "alice")
    processing.claim(svc, "busy", force=True)
    status, _, err = run("reprocess", "--image", "busy")
    assert status == 1
    assert "busy: processing (its chain is on it)" in err
    status, _, err = run("reprocess", "--image", "nope")
    assert status == 1 and "no image 'nope'" in err
    status, _, err = run("reprocess", "--user", "nobody")
    assert status == 1 and "user 'nobody' has no images" in err
    assert run.jobs.started == []


def test_a_users_images_only_and_failed_ones_only_when_asked(run: Cli) -> None:
    svc = run.services
    for image_id, user in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        stored_image(svc, image_id, user)
    processing.claim(svc, "a2", force=True)
    processing.fail(svc, "a2", "corrupt", "bad bytes")
    status, out, err = run("reprocess", "--user", "alice")
    assert status == 0
    assert run.jobs.started == [("a1", 1)]
    assert "a2: failed (pass --include-failed to retry)" in err
    assert "requeued 1; skipped 1" in out
    status, _, _ = run("reprocess", "--user", "alice", "--include-failed")
    assert [i for i, _ in run.jobs.started] == ["a1", "a2"]


def test_stopped_with_ctrl_c_it_resumes_and_requeues_nothing_twice(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = run.services
    ids = [f"img{n}" for n in range(7)]
    for image_id in ids:
        stored_image(svc, image_id, f"user{image_id[-1]}")
    monkeypatch.setattr(reprocess, "PAGE", 2)  # several pages, so the cursor is kept
    waits = 0
    real_wait = reprocess.Pacer.wait

    def interrupted(self: reprocess.Pacer) -> None:
        nonlocal waits
        waits += 1
        if waits == 4:  # Ctrl-C half-way through the second page
            raise KeyboardInterrupt
        real_wait(self)

    monkeypatch.setattr(reprocess.Pacer, "wait", interrupted)
    status, _, err = run("reprocess", "--all", "--rate", "1000")
    assert status == 130 and "run the same command again" in err
    assert len(run.jobs.started) == 3
    checkpoint = run.tmp / "reprocess" / "all.json"
    assert checkpoint.exists()
    status, _, err = run("reprocess", "--all", "--rate", "1000")
    assert status == 0, err
    assert "resuming the run begun" in err
    started = [i for i, _ in run.jobs.started]
    assert sorted(started) == ids  # each once
    assert not checkpoint.exists()


def test_an_image_erased_during_the_run_is_skipped(run: Cli) -> None:
    svc = run.services
    stored_image(svc, "gone", "alice")
    svc.catalog.delete("gone")
    outcome = reprocess.decide(svc, "gone", run.jobs, since=1e12, include_failed=True)
    assert outcome == "erased"
    assert run.jobs.started == []


def test_the_pacer_spaces_images_at_the_rate_asked() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = reprocess.Pacer(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(9):
        pacer.wait()
    assert now[0] == pytest.approx(102.0)  # 9 images at 4/s: the 9th starts 2 s after the 1st
    now[0] += 10  # a slow stretch earns no burst afterwards
    pacer.wait()
    pacer.wait()
    assert slept[-1] == pytest.approx(0.25)


def test_all_images_on_aws_through_the_same_protocols(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.aws import s3_client
    from tests.conftest import moto_catalog

    moto_catalog("imagepipe-images")  # starts moto in this process
    for bucket in ("imagepipe-originals", "imagepipe-variants"):
        s3_client().create_bucket(Bucket=bucket)
    for name, value in {
        "IMAGEPIPE_ORIGINALS_URL": "s3://imagepipe-originals/originals",
        "IMAGEPIPE_VARIANTS_URL": "s3://imagepipe-variants/variants",
        "IMAGEPIPE_CATALOG_URL": "dynamodb://imagepipe-images",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    svc = run.services
    ids = sorted(stored_image(svc, f"img{n}", f"user{n % 2}") for n in range(5))
    svc.originals.delete("img3")  # retention removed it: nothing to process from
    monkeypatch.setattr(reprocess, "PAGE", 2)
    status, out, err = run("reprocess", "--all", "--rate", "1000")
    assert status == 0, err
    assert "requeued 4; skipped 1 (1 original removed)" in out
    assert sorted(i for i, _ in run.jobs.started) == [i for i in ids if i != "img3"]
    assert "img3: original removed" in err
    assert svc.catalog.get("img0").status is Status.PROCESSING
