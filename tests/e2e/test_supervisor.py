"""`make run`'s supervisor (app/ops/supervise.py) on real processes: a killed worker, beat or
Flower comes back while the API keeps answering, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import photo
from tests.e2e.processes import (
    ROOT,
    descendants,
    embedded_env,
    free_port,
    presigned_upload,
    python,
    start_time,
    wait_for,
)

pytestmark = pytest.mark.e2e

PROCESSES = ("web", "worker", "beat", "flower")
# What each process writes to its log once it is serving (the log is appended across restarts).
READY_LINE = {"worker": "ready.", "beat": "beat: Starting..."}
STARTUP = 180  # seconds: generous, for a loaded 2-core machine


@dataclass
class Supervised:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    var: Path
    base: str
    flower: str
    output: Path
    token: str = ""

    @property
    def config(self) -> Path:
        return self.var / "run" / "supervisord.conf"

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            python("-m", "supervisor.supervisorctl", "-c", str(self.config), *args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,  # the answer is read, not the status: `pid` exits 7 when not running
        )
        return done.stdout.strip()

    def pid(self, name: str) -> int | None:
        """The pid supervisord watches for name; None while it is not running."""
        self.alive()
        out = self.ctl("pid", name)
        return int(out) if out.isdigit() and int(out) > 0 else None

    def ready_count(self, name: str) -> int:
        log = self.var / "logs" / f"{name}.log"
        return log.read_text(errors="replace").count(READY_LINE[name])

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"supervisord exited: {self.output.read_text()[-3000:]}")

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)


def _answers(url: str) -> bool | None:
    try:
        return True if requests.get(url, timeout=10).status_code == 200 else None
    except (requests.ConnectionError, requests.Timeout):
        return None


@contextmanager
def supervised_platform(var: Path) -> Iterator[Supervised]:
    """`python -m app.ops.supervise web worker beat flower`, as `make run` starts it."""
    port, flower_port = free_port(), free_port()
    env = embedded_env(var, port, FLOWER_PORT=str(flower_port))
    output = var / "supervisor.out"
    # Append mode, as a terminal would take it: the log follower writes here too.
    with output.open("ab") as out:
        proc = subprocess.Popen(
            python("-m", "app.ops.supervise", *PROCESSES),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    platform = Supervised(
        proc, env, var, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{flower_port}", output
    )
    try:
        wait_until_serving(platform)
        platform.token = subprocess.run(
            python("-m", "app.cli", "token", "alice"),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield platform
    finally:
        _stop(proc)


def wait_until_serving(platform: Supervised) -> None:
    def serving(url: str) -> bool | None:
        platform.alive()
        return _answers(url)

    wait_for(lambda: serving(f"{platform.base}/health"), timeout=STARTUP, what="the API")
    wait_for(lambda: serving(f"{platform.flower}/healthcheck"), timeout=STARTUP, what="Flower")
    for name in READY_LINE:
        wait_for(
            lambda name=name: True if platform.ready_count(name) else platform.alive(),
            timeout=STARTUP,
            what=f"the {name}",
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to supervisord (it stops its programs), SIGKILL to what is left after a while."""
    left = {pid: start_time(pid) for pid in descendants(proc.pid)}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid, started in left.items():
        if started is not None and start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    with supervised_platform(tmp_path_factory.mktemp("var")) as running:
        yield running


@dataclass
class HealthWatch:
    """Polls GET /health in a thread; every answer that was not 200 is kept."""

    url: str
    answers: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                status = requests.get(self.url, timeout=30).status_code
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except requests.RequestException as exc:
                self.failures.append(repr(exc))
            self.answers += 1
            self._stop.wait(0.05)

    @contextmanager
    def watching(self) -> Iterator[HealthWatch]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)


def kill_and_wait_for_new_pid(platform: Supervised, name: str) -> tuple[int, int]:
    old = wait_for(lambda: platform.pid(name), timeout=STARTUP, what=f"{name} running")
    os.kill(old, signal.SIGKILL)
    new = wait_for(
        lambda: pid if (pid := platform.pid(name)) not in (None, old) else None,
        timeout=STARTUP,
        what=f"supervisord to start {name} again",
    )
    return old, new


def test_a_killed_worker_is_restarted_and_the_api_never_stops(platform: Supervised) -> None:
    readies = platform.ready_count("worker")
    with HealthWatch(f"{platform.base}/health").watching() as health:
        old, new = kill_and_wait_for_new_pid(platform, "worker")
        wait_for(
            lambda: True if platform.ready_count("worker") > readies else None,
            timeout=STARTUP,
            what="the restarted worker to be ready",
        )
        data = photo("mate_Storm.jpg").read_bytes()
        image_id, _ = presigned_upload(platform.api, data, "mate_Storm.jpg", "image/jpeg")
        record = wait_for(
            lambda: (
                body
                if (body := platform.api("GET", f"/image/{image_id}").json())["status"]
                in ("ready", "failed")
                else None
            ),
            timeout=STARTUP,
            what=f"image {image_id} to settle",
            interval=0.25,
        )
    assert new != old
    assert not os.path.exists(f"/proc/{old}")
    assert record["status"] == "ready", record
    assert health.answers > 0 and health.failures == []
    assert platform.pid("web") is not None
    # The terminal shows what happened, and each process's log under its name.
    terminal = platform.output.read_text(errors="replace")
    assert "exited: worker (terminated by SIGKILL" in terminal
    assert f"==> {(platform.var / 'logs' / 'worker.log').resolve()} <==" in terminal


def test_killed_flower_and_beat_come_back(platform: Supervised) -> None:
    web = platform.pid("web")
    beats = platform.ready_count("beat")
    with HealthWatch(f"{platform.base}/health").watching() as health:
        _, flower = kill_and_wait_for_new_pid(platform, "flower")
        wait_for(
            lambda: _answers(f"{platform.flower}/healthcheck"),
            timeout=STARTUP,
            what="the restarted Flower to answer",
        )
        _, beat = kill_and_wait_for_new_pid(platform, "beat")
        wait_for(
            lambda: True if platform.ready_count("beat") > beats else None,
            timeout=STARTUP,
            what="the restarted beat to start",
        )
    assert platform.pid("flower") == flower and platform.pid("beat") == beat
    assert platform.pid("web") == web, "the API was restarted too"
    assert health.answers > 0 and health.failures == []


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    with supervised_platform(tmp_path) as running:
        tree = descendants(running.proc.pid)
        # web (gunicorn and its 2 workers), worker (and its 2 pool processes), beat, Flower, tail.
        assert len(tree) >= 9, tree
        started = {pid: start_time(pid) for pid in tree}
        running.proc.send_signal(signal.SIGINT)
        code = running.proc.wait(timeout=120)
        # A process left behind would have been reparented, no longer below supervisord.
        left = [pid for pid, at in started.items() if at is not None and start_time(pid) == at]
        assert left == [], f"still running after Ctrl-C: {left}"
        assert code == 0
        assert _answers(f"{running.base}/health") is None
