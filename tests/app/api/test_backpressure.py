"""Back-pressure and single use: what the upload routes do under floods and races."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app.api import create_app
from app.services import Services, build_services
from app.storage import StorageUnavailable
from tests.conftest import RecordingJobs, make_settings

Auth = Callable[..., dict[str, str]]
FORM = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}


def platform(tmp_path: Path, jobs: RecordingJobs, **overrides: Any) -> tuple[Flask, Services]:
    settings = make_settings(tmp_path, **overrides)
    services = build_services(settings)
    app = create_app(settings, services=services, jobs=jobs)
    app.testing = True
    return app, services


def test_a_long_queue_refuses_new_uploads_with_503_and_retry_after(
    tmp_path: Path, auth: Auth
) -> None:
    jobs = RecordingJobs(queued=51)
    app, services = platform(tmp_path, jobs, max_backlog=50)
    response = app.test_client().post("/upload", json=FORM, headers=auth())
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "busy"
    assert int(response.headers["Retry-After"]) > 0
    assert services.catalog.list_by_user("alice", limit=10).items == []  # nothing recorded
    jobs.queued = 50
    assert app.test_client().post("/upload", json=FORM, headers=auth()).status_code == 201


def test_one_users_unfinished_uploads_are_bounded_and_others_still_get_in(
    tmp_path: Path, auth: Auth
) -> None:
    app, _ = platform(tmp_path, RecordingJobs(), max_open_per_user=3)
    client = app.test_client()
    codes = [client.post("/upload", json=FORM, headers=auth("flood")).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    refused = client.post("/upload", json=FORM, headers=auth("flood"))
    assert refused.get_json()["error"]["code"] == "too_many_unfinished"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.post("/upload", json=FORM, headers=auth("bob")).status_code == 201


def test_concurrent_posts_of_one_form_store_it_exactly_once(tmp_path: Path, auth: Auth) -> None:
    jobs = RecordingJobs()
    app, _services = platform(tmp_path, jobs)
    data = b"\xff\xd8\xff\xe0" * 1_000_000  # big enough that storing it takes a while
    ticket = app.test_client().post("/upload", json=FORM | {"size": len(data)}, headers=auth())
    upload = ticket.get_json()["upload"]
    racers = 8
    start = threading.Barrier(racers)
    codes: list[int] = []

    def post() -> None:
        form: dict[str, Any] = dict(upload["fields"])
        form["file"] = (io.BytesIO(data), "a.jpg")
        client = app.test_client()
        start.wait()
        codes.append(
            client.post(
                "/upload/receive", data=form, content_type="multipart/form-data"
            ).status_code
        )

    threads = [threading.Thread(target=post) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [204] + [409] * (racers - 1)
    assert len(jobs.created) == 1


def test_a_form_whose_bytes_could_not_be_stored_can_be_posted_again(
    tmp_path: Path, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = RecordingJobs()
    app, services = platform(tmp_path, jobs)
    client = app.test_client()
    upload = client.post("/upload", json=FORM | {"size": 4}, headers=auth()).get_json()["upload"]

    def post() -> int:
        form: dict[str, Any] = dict(upload["fields"])
        form["file"] = (io.BytesIO(b"\xff\xd8\xff\xe0"), "a.jpg")
        return client.post(
            "/upload/receive", data=form, content_type="multipart/form-data"
        ).status_code

    real_put = services.originals.put

    def broken_put(*args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable("disk unplugged")

    monkeypatch.setattr(services.originals, "put", broken_put)
    assert post() == 503
    assert jobs.created == []
    monkeypatch.setattr(services.originals, "put", real_put)
    assert post() == 204
    assert post() == 409
    assert len(jobs.created) == 1


def test_a_lost_object_created_hint_still_answers_204(tmp_path: Path, auth: Auth) -> None:
    class DownBroker(RecordingJobs):
        def object_created(self, key: str) -> None:
            raise ConnectionError("broker down")

    app, services = platform(tmp_path, DownBroker())
    client = app.test_client()
    body = client.post("/upload", json=FORM | {"size": 4}, headers=auth()).get_json()
    form: dict[str, Any] = dict(body["upload"]["fields"])
    form["file"] = (io.BytesIO(b"\xff\xd8\xff\xe0"), "a.jpg")
    response = client.post("/upload/receive", data=form, content_type="multipart/form-data")
    assert response.status_code == 204  # stored and recorded: the reconciler starts it
    record = services.catalog.get(body["image_id"])
    assert record.received_at is not None
    assert services.originals.exists(body["image_id"])
