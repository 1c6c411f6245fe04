"""Rate limits (429 + Retry-After) on uploads and failed sign-ins; per-user quotas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.api import create_app
from app.catalog import ImageRecord, Status
from app.services import build_services
from tests.conftest import RecordingJobs, make_settings

Auth = Callable[..., dict[str, str]]
BODY = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 1000}


def _app(tmp_path: Path, **settings: Any) -> Flask:
    config = make_settings(tmp_path, **settings)
    app = create_app(config, services=build_services(config), jobs=RecordingJobs())
    app.testing = True
    return app


def _from(ip: str) -> dict[str, str]:
    return {"REMOTE_ADDR": ip}


def test_uploads_are_limited_per_user(tmp_path: Path, auth: Auth) -> None:
    client = _app(tmp_path, upload_rate_per_user="3/minute").test_client()
    answers = [
        client.post("/upload", json=BODY, headers=auth("alice")).status_code for _ in range(4)
    ]
    assert answers == [201, 201, 201, 429]
    refused = client.post("/upload", json=BODY, headers=auth("alice"))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"]["code"]
    # Another user is not held back by alice.
    assert client.post("/upload", json=BODY, headers=auth("bob")).status_code == 201


def test_uploads_are_limited_per_address(tmp_path: Path, auth: Auth) -> None:
    client = _app(tmp_path, upload_rate_per_ip="4/minute").test_client()
    users = ["u1", "u2", "u3", "u4", "u5"]
    answers = [
        client.post(
            "/upload", json=BODY, headers=auth(u), environ_base=_from("10.0.0.1")
        ).status_code
        for u in users
    ]
    assert answers == [201, 201, 201, 201, 429]
    other = client.post("/upload", json=BODY, headers=auth("u1"), environ_base=_from("10.0.0.2"))
    assert other.status_code == 201


def test_failed_sign_ins_are_limited_per_address(tmp_path: Path, auth: Auth) -> None:
    client = _app(tmp_path, auth_failure_rate="5/minute").test_client()
    bad = {"Authorization": "Bearer not.a.jwt"}
    answers = [
        client.get("/images", headers=bad, environ_base=_from("10.0.0.9")).status_code
        for _ in range(6)
    ]
    assert answers == [401] * 5 + [429]
    # Past the limit even a valid token from that address waits...
    blocked = client.get("/images", headers=auth("alice"), environ_base=_from("10.0.0.9"))
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    # ...while other addresses are served.
    assert (
        client.get("/images", headers=auth("alice"), environ_base=_from("10.0.0.8")).status_code
        == 200
    )


def test_failing_in_a_users_name_does_not_lock_them_out(tmp_path: Path, auth: Auth) -> None:
    client = _app(tmp_path, auth_failure_rate="3/minute").test_client()
    forged = auth("alice")["Authorization"][:-4] + "AAAA"  # alice's sub, a broken signature
    answers = [
        client.get(
            "/images", headers={"Authorization": forged}, environ_base=_from(f"10.1.0.{n}")
        ).status_code
        for n in range(5)
    ]
    assert answers[:3] == [401] * 3 and answers[3:] == [429, 429]  # the forger is slowed
    ok = client.get("/images", headers=auth("alice"), environ_base=_from("10.2.0.1"))
    assert ok.status_code == 200  # alice is not


def _record(image_id: str, t: float, size_kb: int | None, status: Status) -> ImageRecord:
    return ImageRecord(
        image_id, "alice", t, "", image_id, "image/jpeg", "a.jpg", status=status, size=size_kb
    )


def test_uploads_per_day_quota(tmp_path: Path, auth: Auth) -> None:
    app = _app(tmp_path, quota_uploads_per_day=2)
    client: FlaskClient = app.test_client()
    assert client.post("/upload", json=BODY, headers=auth("alice")).status_code == 201
    assert client.post("/upload", json=BODY, headers=auth("alice")).status_code == 201
    third = client.post("/upload", json=BODY, headers=auth("alice"))
    assert third.status_code == 429
    assert third.get_json()["error"]["code"] == "quota_exceeded"
    assert "daily limit" in third.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("stored_kb", "status", "size", "allowed"),
    [
        (None, None, 10_000, True),
        (None, None, 10_001, False),
        (9, Status.READY, 784, True),  # 9 KB + 784 B = 10,000 B
        (9, Status.READY, 785, False),
        (500, Status.FAILED, 10_000, True),  # a failed upload stores nothing
    ],
)
def test_stored_bytes_quota(
    tmp_path: Path,
    auth: Auth,
    stored_kb: int | None,
    status: Status | None,
    size: int,
    allowed: bool,
) -> None:
    app = _app(tmp_path, quota_bytes_per_user=10_000)
    if status is not None:
        app.extensions["imagepipe"].services.catalog.add(_record("old", 1.0, stored_kb, status))
    body = BODY | {"size": size}
    response = app.test_client().post("/upload", json=body, headers=auth("alice"))
    assert response.status_code == (201 if allowed else 413)
    if not allowed:
        assert response.get_json()["error"]["code"] == "quota_exceeded"
        assert "bytes left" in response.get_json()["error"]["message"]
