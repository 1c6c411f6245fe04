"""Tokens, GET /image/{id} and GET /images: each user sees only their own images."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from app.auth.tokens import LocalIssuer
from app.catalog import ImageRecord
from app.services import Services
from app.settings import Settings
from tests.app.auth.principals import UNAUTHENTICATED
from tests.app.auth.principals import headers as principal

Auth = Callable[..., dict[str, str]]


def add(services: Services, image_id: str, user: str, t: float) -> None:
    services.catalog.add(
        ImageRecord(
            image_id=image_id,
            user_id=user,
            upload_time=t,
            original_url="file:///x",
            original_key=image_id,
            content_type="image/jpeg",
            filename=f"{image_id}.jpg",
        )
    )


@pytest.mark.parametrize("who", UNAUTHENTICATED)
def test_requests_without_a_valid_token_get_401(
    client: FlaskClient, settings: Settings, who: str
) -> None:
    headers = principal(settings, who)
    for response in (
        client.get("/images", headers=headers),
        client.get("/image/abc", headers=headers),
        client.post("/upload", json={}, headers=headers),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in ("unauthorized", "invalid_token")


def test_expired_token_says_so(client: FlaskClient, settings: Settings) -> None:
    response = client.get("/images", headers=principal(settings, "expired"))
    assert "expired" in response.get_json()["error"]["message"]


def test_get_image_returns_the_record(client: FlaskClient, auth: Auth, services: Services) -> None:
    add(services, "mine", "alice", 1.0)
    body = client.get("/image/mine", headers=auth("alice")).get_json()
    assert body["image_id"] == "mine"
    assert body["status"] == "pending"
    for field in ("original_url", "processed_url", "format", "size", "upload_time", "variants"):
        assert field in body


def test_another_users_image_is_not_found(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    add(services, "theirs", "bob", 1.0)
    unknown = client.get("/image/nothing-here", headers=auth("alice"))
    other = client.get("/image/theirs", headers=auth("alice"))
    assert unknown.status_code == other.status_code == 404
    assert other.get_json()["error"]["code"] == "not_found"


def test_list_is_own_newest_first_and_paginated(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    for i in range(5):
        add(services, f"a{i}", "alice", float(i))
    add(services, "b0", "bob", 10.0)
    first = client.get("/images?user_id=alice&limit=2", headers=auth("alice")).get_json()
    assert [i["image_id"] for i in first["images"]] == ["a4", "a3"]
    rest = client.get(
        f"/images?limit=10&cursor={first['next_cursor']}", headers=auth("alice")
    ).get_json()
    assert [i["image_id"] for i in rest["images"]] == ["a2", "a1", "a0"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("user_id=bob", 403, "forbidden"),
        ("limit=0", 400, "invalid_parameter"),
        ("limit=1000", 400, "invalid_parameter"),
        ("cursor=garbage!!", 400, "invalid_cursor"),
        ("sort=asc", 400, "unknown_parameter"),
    ],
)
def test_list_errors(client: FlaskClient, auth: Auth, query: str, status: int, code: str) -> None:
    response = client.get(f"/images?{query}", headers=auth("alice"))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_errors_are_json_everywhere(client: FlaskClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    response = client.delete("/upload")
    assert response.status_code == 405


def test_health_reports_each_backend(client: FlaskClient) -> None:
    body = client.get("/health").get_json()
    assert body == {
        "status": "ok",
        "backends": {"originals": "ok", "variants": "ok", "catalog": "ok", "broker": "ok"},
    }


def test_token_user_ids_are_validated(settings: Settings) -> None:
    from app.auth.tokens import InvalidUserId

    with pytest.raises(InvalidUserId):
        LocalIssuer.from_settings(settings).issue("../../etc")
