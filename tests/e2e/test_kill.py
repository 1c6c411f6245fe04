"""Kill tests: the worker (main process and pool children) is SIGKILLed at random moments while
uploads flow, and once stopped with SIGTERM as a Fargate Spot reclaim would; every image still
ends ready, with exactly one set of variants, and the API answers /health throughout.

Embedded (filesystem broker, folders, SQLite) with 100 uploads; AWS (moto's server: S3, SQS,
DynamoDB, the ingest process) with 50. A beat process runs the reconciler, with a short lease so
the test is bounded; docs/robustness.md says what each mechanism guarantees.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from app.aws import AwsLocation, dynamodb_client, s3_client
from app.catalog import ImageCatalog, Status
from app.catalog.dynamodb import DynamoDBCatalog
from app.catalog.sqlite import SQLiteCatalog
from app.storage.filesystem import FileBlobStore
from tests.conftest import atomic_moto_writes, photo
from tests.e2e.processes import (
    ROOT,
    aws_env,
    beat,
    children,
    embedded_env,
    free_port,
    ingest,
    moto_server,
    presigned_upload,
    producer_for,
    python,
    wait_for,
    web,
    worker,
    worker_including,
)

pytestmark = pytest.mark.e2e
# The storms' own waits allow 600-900 s on a busy machine (below); the suite's default 300 s
# cut the AWS storm's teardown in a run of three suites and two busy loops on two cores.
KILL_TIMEOUT = pytest.mark.timeout(1200)

# Short enough to keep the test bounded: an orphaned image runs again about 8 s after its last
# renewal once the queue is empty (reconciler every 2 s).
LEASE = {
    "IMAGEPIPE_LEASE_SECONDS": "6",
    # One client uploads fast here; the abuse limits have their own tests.
    "IMAGEPIPE_UPLOAD_RATE_PER_USER": "100000/minute",
    "IMAGEPIPE_UPLOAD_RATE_PER_IP": "100000/minute",
}


@dataclass
class Target:
    base: str
    env: dict[str, str]
    logs: Path
    stack: ExitStack
    token: str
    variant_keys: Callable[[str], set[str]]
    catalog: ImageCatalog
    worker: subprocess.Popen[bytes] | None = None
    health: list[str] = field(default_factory=list)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def start_worker(self) -> None:
        self.worker = worker(self.stack, self.env, self.logs)


def small_photos(count: int) -> list[bytes]:
    """Distinct real-photo crops of about 640x427: quick to process, still every variant path."""
    with Image.open(photo("mate_Storm.jpg")) as img:
        base = img.convert("RGB").resize((960, 640))
    out = []
    for n in range(count):
        x, y = (n * 7) % 300, (n * 5) % 200
        buffer = io.BytesIO()
        base.crop((x, y, x + 640, y + 427)).save(buffer, "JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def token(env: dict[str, str], user: str = "alice") -> str:
    done = subprocess.run(
        python("-m", "app.cli", "token", user),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def watch_health(target: Target, stop: threading.Event) -> None:
    """Ask /health all along; every answer that is not a 200 is kept for the assertion."""
    while not stop.is_set():
        try:
            response = requests.get(f"{target.base}/health", timeout=60)
            if response.status_code != 200:
                target.health.append(f"{response.status_code}: {response.text[:200]}")
        except requests.RequestException as exc:
            target.health.append(repr(exc))
        stop.wait(0.2)


def kill_worker(target: Target, how: signal.Signals) -> None:
    proc = target.worker
    assert proc is not None and proc.poll() is None, "the worker died by itself"
    if how is signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # the main process and every pool process
        proc.wait()
    else:
        proc.send_signal(how)  # a warm shutdown: finish or hand back what it holds
        assert proc.wait(timeout=180) == 0
    target.start_worker()


def storm(target: Target, count: int, seed: int, *, requeues: bool) -> None:
    """Upload `count` photos; while they are processed, kill the worker at random moments.

    The moments are counts of settled images, so each kill lands while work is in flight. With
    `requeues`, some images must have been requeued by the reconciler (attempt > 1): on SQS a
    killed worker's messages stay hidden for the whole visibility timeout, far longer than the
    lease, so nothing but the reconciler brings them back within the test's time.
    """
    chooser = random.Random(seed)
    moments = sorted(chooser.sample(range(3, count - 10), 4))
    graceful = chooser.randrange(len(moments))  # one Spot-style stop among the kills
    plan = [(m, signal.SIGTERM if n == graceful else signal.SIGKILL) for n, m in enumerate(moments)]
    stop = threading.Event()
    watcher = threading.Thread(target=watch_health, args=(target, stop), daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            uploads = [pool.submit(send, target, d, n) for n, d in enumerate(small_photos(count))]
            image_ids = [future.result() for future in uploads]
        for moment, how in plan:
            wait_for(
                lambda m=moment: True if settled_count(target, image_ids) >= m else None,
                timeout=600,
                what=f"{moment} images to settle",
                interval=0.2,
            )
            kill_worker(target, how)
        records = wait_for(
            lambda: settled_all(target, image_ids),
            timeout=900,
            what=f"{count} images to settle",
            interval=1,
        )
    finally:
        stop.set()
        watcher.join()
    failed = {r["image_id"]: r["failure_reason"] for r in records if r["status"] != "ready"}
    assert failed == {}
    for record in records:
        recorded = {v["name"] for v in record["variants"]}
        assert len(recorded) == len(record["variants"])  # no name twice
        # One set, nothing extra: every variant processing makes is stored (those left to
        # their first request, IMAGEPIPE_EAGER_VARIANTS, are recorded and not stored yet), in
        # the packs the record names, and no pack a killed try left behind is kept.
        made = {v["name"] for v in record["variants"] if not v["on_request"]}
        assert recorded - made and made <= recorded
        entries = target.catalog.get(record["image_id"]).variants
        named = {v.key.rsplit("/", 1)[-1] for v in entries if not v.on_request}
        assert target.variant_keys(record["image_id"]) == named
    assert target.health == []
    if requeues:
        assert max(target.catalog.get(i).attempts for i in image_ids) > 1


def settled_count(target: Target, image_ids: list[str]) -> int:
    statuses = (target.catalog.get(i).status for i in image_ids)
    return sum(s in (Status.READY, Status.FAILED) for s in statuses)


def send(target: Target, data: bytes, n: int) -> str:
    return presigned_upload(target.api, data, f"photo-{n}.jpg", "image/jpeg")[0]


def settled_all(target: Target, image_ids: list[str]) -> list[dict[str, Any]] | None:
    records = [target.api("GET", f"/image/{i}").json() for i in image_ids]
    return records if all(r["status"] in ("ready", "failed") for r in records) else None


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Target]:
    port = free_port()
    env = embedded_env(tmp_path, port, **LEASE)
    variants = tmp_path / "variants"

    def keys(image_id: str) -> set[str]:
        return {k.rsplit("/", 1)[-1] for k in FileBlobStore(variants).list(f"{image_id}/")}

    with ExitStack() as stack:
        web(stack, env, tmp_path)
        beat(stack, env, tmp_path)
        catalog = SQLiteCatalog(tmp_path / "catalog.db")
        target = Target(f"http://127.0.0.1:{port}", env, tmp_path, stack, token(env), keys, catalog)
        target.start_worker()
        yield target
        # `encode` marks an image ready; `record`, the chain's last stage, drops its master
        # after that: a killed worker's `record` comes back with its message.
        wait_for(
            lambda: True if not list(FileBlobStore(variants).list("_work/")) else None,
            timeout=300,
            what="every working master to be dropped",
        )


@KILL_TIMEOUT
def test_embedded_kills_lose_nothing(embedded: Target) -> None:
    storm(embedded, 100, seed=9, requeues=False)


@pytest.fixture
def on_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # this process's own checks
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    with moto_server() as endpoint, atomic_moto_writes(), ExitStack() as stack:
        env = (
            aws_env(plain, endpoint)
            | LEASE
            | {
                "IMAGEPIPE_DATA_DIR": str(tmp_path),
                "IMAGEPIPE_ORIGINALS_URL": "s3://kill-originals/originals",
                "IMAGEPIPE_VARIANTS_URL": "s3://kill-variants/variants",
                "IMAGEPIPE_CATALOG_URL": "dynamodb://kill-images",
                "IMAGEPIPE_SECRET_KEY": "e2e-kill-secret-key-0123456789abcdef",
                "IMAGEPIPE_HOST": "127.0.0.1",
                # moto stands in for AWS here, in one Python process on a busy 2-core machine:
                # with the storm it answered a ping in over 3 s, and readiness said 503 (seen).
                # What this test asks of /health is that the API answers while workers die.
                "IMAGEPIPE_HEALTH_TIMEOUT_SECONDS": "20",
                "IMAGEPIPE_PORT": str(port),
                "IMAGEPIPE_SQS_WAIT_SECONDS": "1",
                "IMAGEPIPE_EVENTS_FANOUT": "false",
            }
        )
        subprocess.run(python("-m", "app.cli", "provision"), env=env, cwd=ROOT, check=True)
        location = AwsLocation(region="us-east-1", endpoint_url=endpoint)

        def keys(image_id: str) -> set[str]:
            listing = s3_client(location).list_objects_v2(
                Bucket="kill-variants", Prefix=f"variants/{image_id}/"
            )
            return {o["Key"].rsplit("/", 1)[-1] for o in listing.get("Contents", [])}

        web(stack, env, tmp_path)
        ingest(stack, env, tmp_path)
        beat(stack, env, tmp_path)
        catalog = DynamoDBCatalog(dynamodb_client(location), "kill-images")
        target = Target(f"http://127.0.0.1:{port}", env, tmp_path, stack, token(env), keys, catalog)
        target.start_worker()
        yield target


@KILL_TIMEOUT
def test_aws_kills_lose_nothing(on_aws: Target) -> None:
    storm(on_aws, 50, seed=4, requeues=True)


def test_the_worker_health_check_follows_the_worker(tmp_path: Path) -> None:
    """What an ECS container health check runs: healthy while the worker beats, not once dead."""
    env = embedded_env(tmp_path, free_port())

    def check() -> int:
        args = python("-m", "app.cli", "worker-health", "--max-age", "8")
        done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0 or "worker unhealthy" in done.stderr, done.stderr
        return done.returncode

    assert check() == 1  # no worker yet
    with ExitStack() as stack:
        proc = worker(stack, env, tmp_path)
        wait_for(lambda: True if check() == 0 else None, timeout=60, what="a healthy worker")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wait_for(lambda: True if check() == 1 else None, timeout=60, what="the check to fail")


def test_pool_processes_die_with_the_workers_main_process(tmp_path: Path) -> None:
    """The embedded broker hands a dead worker's messages back: a pool process that outlived
    its main process would still be running the same stage. Celery's prefork pool asks the
    kernel to SIGKILL each pool process when its parent dies (PR_SET_PDEATHSIG)."""
    env = embedded_env(tmp_path, free_port())
    marker = tmp_path / "held.pid"
    with ExitStack() as stack:
        proc = worker_including(stack, env, tmp_path, "tests.e2e.stall_tasks")
        app = producer_for(tmp_path, "imagepipe")
        app.send_task("imagepipe.test.held_stage", args=[str(marker)])
        pool_pid = wait_for(
            lambda: int(text) if marker.exists() and (text := marker.read_text()) else None,
            timeout=120,
            what="a pool process to run the stage",
        )
        assert pool_pid in children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait()
        try:
            wait_for(
                lambda: True if not Path(f"/proc/{pool_pid}").exists() else None,
                timeout=60,
                what=f"pool process {pool_pid} to die with its parent",
            )
        finally:
            if Path(f"/proc/{pool_pid}").exists():  # the failure: leave no process behind
                os.kill(pool_pid, signal.SIGKILL)
