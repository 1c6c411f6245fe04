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
from app.names import CDN_SECRET_HEADER as CDN_HEADER
from app.services import build_services
from app.setting_types import Secret
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


ALB = "10.0.1.20"  # the load balancer: the socket's peer of every request behind it
EDGE = "130.176.0.7"  # a CloudFront edge server
CDN = {CDN_HEADER: "cdn-origin-secret-0123456789"}


def _through(client: FlaskClient, forwarded: str, **headers: str) -> int:
    """A request with a bad token, as the ALB hands it on (it appended its own peer)."""
    given = {"Authorization": "Bearer not.a.jwt", "X-Forwarded-For": forwarded, **headers}
    return client.get("/images", headers=given, environ_base=_from(ALB)).status_code


def test_behind_a_load_balancer_one_abuser_does_not_lock_out_everyone(tmp_path: Path) -> None:
    client = _app(tmp_path, auth_failure_rate="3/minute", trusted_proxies=1).test_client()
    assert [_through(client, "203.0.113.5") for _ in range(4)] == [401, 401, 401, 429]
    # Another client behind the same balancer is still answered.
    assert _through(client, "198.51.100.8") == 401
    # The abuser cannot get a fresh address by writing one in front of what the ALB appends.
    assert _through(client, "192.0.2.99, 203.0.113.5") == 429


def test_through_the_cdn_the_viewers_own_address_is_counted(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"auth_failure_rate": "2/minute", "trusted_proxies": 1}
    client = _app(tmp_path, cdn_origin_secret=Secret(CDN[CDN_HEADER]), **settings).test_client()
    viewer = f"203.0.113.5, {EDGE}"  # CloudFront appended the viewer, the ALB the edge server
    assert [_through(client, viewer, **CDN) for _ in range(3)] == [401, 401, 429]
    assert _through(client, f"198.51.100.8, {EDGE}", **CDN) == 401  # same edge, other viewer
    # Without the CDN's secret the viewer entry is not believed: the edge server is counted.
    assert _through(client, f"192.0.2.1, {EDGE}", **{CDN_HEADER: "guessed"}) == 401
    assert _through(client, f"192.0.2.2, {EDGE}") == 401
    assert _through(client, f"192.0.2.3, {EDGE}") == 429


def test_with_no_proxy_trusted_a_forwarded_header_changes_nothing(tmp_path: Path) -> None:
    client = _app(tmp_path, auth_failure_rate="2/minute").test_client()
    answers = [_through(client, f"192.0.2.{n}") for n in range(3)]
    assert answers == [401, 401, 429]  # all counted against the socket's peer
