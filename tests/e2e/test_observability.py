"""Metrics and logs of the real processes: gunicorn as the Procfile runs it, a Celery worker.

One upload goes to ready; its request ID is followed through the API's and the worker's JSON
lines, and both /metrics endpoints are scraped.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import jpeg_bytes
from tests.e2e.processes import (
    ROOT,
    _ok,
    embedded_env,
    free_port,
    process,
    python,
    wait_for,
    worker,
)

pytestmark = pytest.mark.e2e
REQUEST_ID = "e2e-follow-me-0001"


@dataclass
class Running:
    base: str
    worker_metrics: str
    token: str
    logs: Path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    var = tmp_path_factory.mktemp("var")
    port, metrics_port = free_port(), free_port()
    env = embedded_env(
        var,
        port,
        IMAGEPIPE_LOG_FORMAT="json",
        IMAGEPIPE_WORKER_METRICS_PORT=str(metrics_port),
    )
    bind = f"127.0.0.1:{port}"
    # The Procfile's web command: its config module turns on multiprocess metrics.
    gunicorn = python(
        "-m", "gunicorn", "--config", "python:app.api.gunicorn_conf", "--bind", bind,
        "--workers", "2", "--threads", "4",
        "--logger-class", "app.api.access_log.RedactingLogger", "app.wsgi:app",
    )  # fmt: skip
    with ExitStack() as stack:
        web = stack.enter_context(process(gunicorn, env, var / "web.log"))
        base = f"http://{bind}"
        wait_for(lambda: _ok(f"{base}/health", web, var / "web.log"), timeout=60, what="the API")
        worker(stack, env, var)
        token = subprocess.run(
            python("-m", "app.cli", "token", "alice"),
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield Running(base, f"http://127.0.0.1:{metrics_port}/metrics", token, var)


def scrape(url: str) -> dict[tuple[str, frozenset[Any]], float]:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    text = path.read_text()
    # Up to the last newline: a process may be halfway through writing the line after it.
    for raw in text[: text.rfind("\n") + 1].splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


@pytest.fixture(scope="module")
def ready_image(running: Running) -> str:
    auth = {"Authorization": f"Bearer {running.token}"}
    data = jpeg_bytes(Image.new("RGB", (900, 600), (30, 120, 60)), quality=85)
    form = {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)}
    # One ID on both of the client's requests: the ticket (its record keeps the ID, which the
    # first chain logs under) and the form's post.
    ticket = requests.post(
        f"{running.base}/upload",
        json=form,
        headers=auth | {"X-Request-ID": REQUEST_ID},
        timeout=30,
    )
    assert ticket.status_code == 201, ticket.text
    image_id: str = ticket.json()["image_id"]
    upload = ticket.json()["upload"]
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("a.jpg", data, "image/jpeg")},
        headers={"X-Request-ID": REQUEST_ID},
        timeout=60,
    )
    assert posted.status_code == 204, posted.text
    assert posted.headers["X-Request-ID"] == REQUEST_ID

    def settled() -> str | None:
        got = requests.get(f"{running.base}/image/{image_id}", headers=auth, timeout=30).json()
        return got["status"] if got["status"] in ("ready", "failed") else None

    assert wait_for(settled, timeout=180, what="the image to settle", interval=0.25) == "ready"

    # `encode` marks the image ready; `record`, the chain's last stage, runs after it.
    def chain_ended() -> bool | None:
        for line in json_lines(running.logs / "worker.log"):
            message = line["message"]
            record_task = message.startswith("Task imagepipe.record[")
            if line.get("image_id") == image_id and record_task and "succeeded" in message:
                return True
        return None

    wait_for(chain_ended, timeout=180, what="the chain's last stage to finish")
    return image_id


def test_one_request_id_follows_the_image_from_upload_to_ready(
    running: Running, ready_image: str
) -> None:
    web = [x for x in json_lines(running.logs / "web.log") if x.get("request_id") == REQUEST_ID]
    assert any(x["message"] == "POST /upload/receive 204" for x in web), web

    def chain_done() -> list[dict[str, Any]] | None:
        lines = json_lines(running.logs / "worker.log")
        mine = [x for x in lines if x.get("request_id") == REQUEST_ID]
        return mine if any("ready" in x["message"] for x in mine) else None

    mine = wait_for(chain_done, timeout=180, what="the worker's ready line")
    tasks = {x.get("task") for x in mine}
    stages = ("ingest", "resize", "encode", "record")  # by default compress has nothing to make
    assert {f"imagepipe.{s}" for s in stages} <= tasks
    assert {x["image_id"] for x in mine if x.get("task")} == {ready_image}
    assert {x["step"] for x in mine if x.get("step")} >= {"decode", "resize", "encode"}
    for log in ("web.log", "worker.log"):
        text = (running.logs / log).read_text()
        assert "alice" not in text, log
        assert running.token not in text, log
        assert "sig=" not in text and "Signature=" not in text, log


def test_the_worker_serves_its_pool_processes_metrics(running: Running, ready_image: str) -> None:
    tasks = "imagepipe_tasks_total"
    stages = ("ingest", "resize", "encode", "record")

    # A task is counted in task_postrun, which Celery sends after it logs the task's success:
    # the fixture's wait for that line can end before `record` is counted.
    def counted() -> dict[tuple[str, frozenset[Any]], float] | None:
        found = scrape(running.worker_metrics)
        done = [value(found, tasks, task=f"imagepipe.{s}", outcome="done") for s in stages]
        return found if min(done) >= 1 else None

    found = wait_for(counted, timeout=60, what=f"{tasks} to count every stage done")
    steps = "imagepipe_step_duration_seconds_count"
    for fmt in ("webp", "avif"):
        assert value(found, steps, step="encode", format=fmt) >= 1, fmt
    # JPEGs are made on first request by default (app/eager.py), by the API, not the worker.
    assert value(found, steps, step="encode", format="jpg") == 0
    assert value(found, steps, step="decode", format="") >= 1
    assert value(found, "imagepipe_upload_to_ready_seconds_count") >= 1
    assert ("imagepipe_queue_backlog", frozenset({("queue", "imagepipe")})) in found
    assert value(found, "imagepipe_queue_oldest_message_age_seconds", queue="imagepipe") >= 0


def test_the_apis_metrics_add_up_both_gunicorn_workers(running: Running) -> None:
    live = f"{running.base}/health/live"
    before = value(scrape(f"{running.base}/metrics"), "imagepipe_http_requests_total",
                   route="/health/live", method="GET", status="200")  # fmt: skip
    for _ in range(20):
        assert requests.get(live, timeout=30).status_code == 200
    for _ in range(6):  # whichever worker answers the scrape, it reports the sum
        found = scrape(f"{running.base}/metrics")
        total = value(found, "imagepipe_http_requests_total", route="/health/live",
                      method="GET", status="200")  # fmt: skip
        assert total == before + 20
