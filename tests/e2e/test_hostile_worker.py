"""Every hostile file through the real worker path: API upload, filesystem broker, Celery worker.

Each file ends `ready` or `failed` with the reason tests/hostile/cases.tsv expects; the worker is
alive at the end and no process of it grew past MEMORY_BOUND_MB. The shared corpus runs where
../shared/corpus is present; the generated set always runs. Two test-only tasks
(tests/e2e/stall_tasks.py) then show that a hard time limit and a dying pool process each end
`failed` with a reason, never stuck in `processing`.
"""

from __future__ import annotations

import mimetypes
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from celery import Celery

from app import processing
from app.auth.tokens import LocalIssuer
from app.imaging.formats import ACCEPTED_CONTENT_TYPES
from app.services import Services, build_services
from app.settings import Settings
from tests import hostile_files
from tests.e2e.processes import (
    address_space_limit,
    children,
    descendants,
    embedded_env,
    free_port,
    producer_for,
    status_mb,
    wait_for,
    web,
    worker_including,
)

pytestmark = pytest.mark.e2e

# Files whose outcome differs from the expectation because of a known bug outside the hostile-file
# checks: (what happens today, why). The test fails when one of them changes, so the entry goes.
KNOWN_ISSUES: dict[str, tuple[str, str]] = {}

# RSS any one worker process may reach over the whole set. The largest file allowed through is a
# 49 MP RGBA PNG (196 MB decoded); docs/robustness.md gives the measured peak.
MEMORY_BOUND_MB = 1024
SETTLE_SECONDS = 300


@dataclass
class Platform:
    base: str
    token: str
    var: Path
    worker: subprocess.Popen[bytes]
    services: Services
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    peak_address_space_mb: dict[str, float] = field(default_factory=dict)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def sample_memory(self) -> None:
        """Record the peak RSS of the worker's main process, pool processes and their children
        (a decode sandbox, where app/processing.py uses one)."""
        if self.worker.poll() is not None:
            raise RuntimeError(f"the worker exited; see {self.var / 'worker.log'}")
        pool = set(children(self.worker.pid))
        roles = [("main", self.worker.pid)]
        roles += [("pool" if p in pool else "decode", p) for p in descendants(self.worker.pid)]
        for role, pid in roles:
            for key, peaks in (
                ("VmRSS", self.peak_rss_mb),
                ("VmHWM", self.peak_rss_mb),
                ("VmPeak", self.peak_address_space_mb),
            ):
                value = status_mb(pid, key)
                if value is not None:
                    peaks[role] = max(peaks.get(role, 0.0), value)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    var = tmp_path_factory.mktemp("hostile-var")
    # Every hostile file is uploaded by one user within seconds: above the default rate limit.
    env = embedded_env(
        var,
        free_port(),
        IMAGEPIPE_UPLOAD_RATE_PER_USER="10000/minute",
        IMAGEPIPE_MAX_OPEN_PER_USER="10000",  # every file is sent at once, on purpose
    )
    with ExitStack() as stack:
        web(stack, env, var)
        proc = worker_including(stack, env, var, "tests.e2e.stall_tasks")
        settings = Settings.from_env(env)
        token = LocalIssuer.from_settings(settings).issue("alice")
        yield Platform(
            f"http://127.0.0.1:{env['IMAGEPIPE_PORT']}", token, var, proc, build_services(settings)
        )
        assert proc.poll() is None, "the worker died during the tests"
        # Celery's warm shutdown on its own main process: a signal to the whole process group
        # (what process() sends) kills the pool first and Celery waits 20 s for it.
        proc.terminate()
        proc.wait(timeout=60)


@dataclass(frozen=True)
class Stalls:
    stuck: str  # image ID whose "decoder" ignores the soft limit until the hard limit kills it
    dying: tuple[str, str]  # image ID and task ID whose pool process dies every time


@pytest.fixture(scope="module")
def stalls(platform: Platform) -> Stalls:
    """Sent before the corpus, so their waits (the 3 s hard limit, Celery's 10 s lost-worker
    wait, the 5 s retry delay) overlap the corpus run instead of adding to it."""
    app = producer(platform)
    stuck = stuck_record(platform, "stuck.jpg")
    app.send_task("imagepipe.test.stuck_decoder", args=[stuck])
    dying = stuck_record(platform, "dies.jpg")
    task = app.send_task("imagepipe.test.dying_decoder", args=[dying])
    return Stalls(stuck, (dying, task.id))


def upload(platform: Platform, name: str, data: bytes) -> str | int:
    """The image ID, or the HTTP status when the API refuses the upload."""
    # A hostile client declares whatever the API accepts; the worker looks at the bytes only.
    declared = mimetypes.guess_type(name)[0] or ""
    content_type = declared if declared in ACCEPTED_CONTENT_TYPES else "image/jpeg"
    ticket = platform.api(
        "POST", "/upload", json={"filename": name, "content_type": content_type, "size": len(data)}
    )
    if ticket.status_code != 201:
        return ticket.status_code
    body = ticket.json()
    form = body["upload"]
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": (name, data, content_type)}, timeout=60
    )
    assert posted.status_code == 204, posted.text
    image_id: str = body["image_id"]
    return image_id


def settle(platform: Platform, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every record once it is ready or failed; the worker's memory is sampled meanwhile."""
    records: dict[str, dict[str, Any]] = {}

    def poll() -> dict[str, dict[str, Any]] | None:
        platform.sample_memory()
        for name, image_id in ids.items():
            if name not in records:
                record = platform.api("GET", f"/image/{image_id}").json()
                if record["status"] in ("ready", "failed"):
                    records[name] = record
        return records if len(records) == len(ids) else None

    try:
        return wait_for(poll, timeout=SETTLE_SECONDS, what="every hostile file to settle")
    except TimeoutError:
        stuck = sorted(set(ids) - set(records))
        raise AssertionError(f"still not ready or failed: {stuck}") from None


def test_every_hostile_file_ends_ready_or_failed_with_its_reason(
    platform: Platform, stalls: Stalls
) -> None:
    files = hostile_files.everything()
    ids: dict[str, str] = {}
    refused: dict[str, int] = {}
    started = time.monotonic()
    for item in files:
        answer = upload(platform, item.name, item.data())
        if isinstance(answer, int):
            refused[item.name] = answer
        else:
            ids[item.name] = answer
    records = settle(platform, ids)
    elapsed = time.monotonic() - started

    wrong = []
    for item in files:
        expect = item.expect
        if item.name in refused:
            # The API takes no empty upload (HTTP 400); the worker's verdict would be empty_file.
            if not (expect.outcome == "empty_file" and refused[item.name] == 400):
                wrong.append(f"{item.name}: the API refused it with {refused[item.name]}")
            continue
        record = records[item.name]
        got = "ready" if record["status"] == "ready" else record["failure_reason"]
        size = (record["width"], record["height"])
        if item.name in KNOWN_ISSUES:
            if got != KNOWN_ISSUES[item.name][0]:
                wrong.append(f"{item.name} now ends {got}: update KNOWN_ISSUES")
            continue
        if got != expect.outcome:
            detail = record.get("failure_detail")
            wrong.append(f"{item.name}: {got} ({detail}), not {expect.outcome}")
        elif got == "ready" and not record["variants"]:
            wrong.append(f"{item.name}: ready without variants")
        elif got == "ready" and expect.size and size != expect.size:
            wrong.append(f"{item.name}: {size[0]}x{size[1]}, not {expect.size}")
    assert not wrong, "\n".join(wrong)

    platform.sample_memory()
    assert platform.worker.poll() is None
    print(  # the figures docs/robustness.md quotes (pytest -s shows them)
        f"\n{len(files)} files settled in {elapsed:.1f} s; peak RSS MB: {platform.peak_rss_mb}; "
        f"peak address space MB: {platform.peak_address_space_mb}"
    )
    assert max(platform.peak_rss_mb.values()) < MEMORY_BOUND_MB, platform.peak_rss_mb


def test_every_pool_process_runs_under_the_memory_ceiling(platform: Platform) -> None:
    # The pool processes only: their encoder children (app/imaging/warm.py) set a budget of
    # their own, as the decode sandbox does.
    ceiling = platform.services.settings.worker_memory_mb * 1024 * 1024

    def limited() -> dict[int, int | None] | None:
        limits = {pid: address_space_limit(pid) for pid in children(platform.worker.pid)}
        wrong = {pid: limit for pid, limit in limits.items() if limit not in (None, ceiling)}
        assert not wrong, f"pool processes with another ceiling than {ceiling}: {wrong}"
        # None: a process forked moments ago, in place of one the stalls killed, has not yet
        # run worker_process_init, where it sets its limit before it reads a job.
        whole = len(limits) == platform.services.settings.worker_concurrency  # none being replaced
        return limits if whole and None not in limits.values() else None

    wait_for(limited, timeout=30, what="every pool process to set its memory ceiling")
    assert address_space_limit(platform.worker.pid) is None  # the main process keeps no limit


def stuck_record(platform: Platform, name: str) -> str:
    """An uploaded-looking record in `processing`, as the resize stage sees it."""
    ticket = platform.api(
        "POST", "/upload", json={"filename": name, "content_type": "image/jpeg", "size": 10}
    )
    assert ticket.status_code == 201, ticket.text
    image_id: str = ticket.json()["image_id"]
    assert processing.claim(platform.services, image_id)
    return image_id


def producer(platform: Platform) -> Celery:
    return producer_for(platform.var, platform.services.settings.task_queue)


def failure(platform: Platform, image_id: str, timeout: float) -> dict[str, Any]:
    def failed() -> dict[str, Any] | None:
        platform.sample_memory()  # also fails fast if the worker is gone
        record: dict[str, Any] = platform.api("GET", f"/image/{image_id}").json()
        return record if record["status"] == "failed" else None

    return wait_for(failed, timeout=timeout, what=f"image {image_id} to fail", interval=0.25)


def test_a_hard_time_limit_kill_ends_failed_decode_timeout(
    platform: Platform, stalls: Stalls
) -> None:
    record = failure(platform, stalls.stuck, timeout=60)
    assert record["failure_reason"] == "decode_timeout", record
    assert "TimeLimitExceeded" in record["failure_detail"]
    log = (platform.var / "worker.log").read_text()
    assert "Hard time limit (3s) exceeded for imagepipe.test.stuck_decoder" in log
    assert platform.worker.poll() is None


def test_a_pool_process_dying_on_an_image_ends_failed_worker_lost(
    platform: Platform, stalls: Stalls
) -> None:
    image_id, task_id = stalls.dying
    record = failure(platform, image_id, timeout=120)
    assert record["failure_reason"] == "worker_lost", record
    log = (platform.var / "worker.log").read_text()
    assert log.count(f"imagepipe.test.dying_decoder[{task_id}] received") == 2  # one retry
    assert platform.worker.poll() is None
