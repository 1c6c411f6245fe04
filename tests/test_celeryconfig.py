"""celeryconfig.py reads the one settings object: what each setting turns into."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path: Path, **env: str) -> dict[str, str]:
    names = (
        "worker_send_task_events",
        "task_send_sent_event",
        "beat_schedule",
        "worker_concurrency",
    )
    code = "import celeryconfig as c; " + "; ".join(f"print(repr(c.{n}))" for n in names)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=base | {"IMAGEPIPE_DATA_DIR": str(tmp_path)} | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(zip(names, done.stdout.splitlines(), strict=True))


def test_task_events_follow_the_setting(tmp_path: Path) -> None:
    assert config(tmp_path)["worker_send_task_events"] == "True"
    off = config(tmp_path, IMAGEPIPE_TASK_EVENTS="false")
    assert (off["worker_send_task_events"], off["task_send_sent_event"]) == ("False", "False")


def test_the_pool_size_is_the_setting(tmp_path: Path) -> None:
    # The stack's workerConcurrency reaches the worker through it; the Procfile passes no flag.
    assert config(tmp_path)["worker_concurrency"] == "2"
    assert config(tmp_path, IMAGEPIPE_WORKER_CONCURRENCY="3")["worker_concurrency"] == "3"


def test_the_reconciler_runs_three_times_a_lease(tmp_path: Path) -> None:
    schedule = config(tmp_path, IMAGEPIPE_LEASE_SECONDS="30")["beat_schedule"]
    assert "'schedule': 10.0" in schedule and "'expires': 10.0" in schedule


def test_importing_the_config_writes_no_file(tmp_path: Path) -> None:
    # Flower and `celery inspect` import it too: neither may make a secret key or folders.
    config(tmp_path / "var")
    assert not (tmp_path / "var").exists()
