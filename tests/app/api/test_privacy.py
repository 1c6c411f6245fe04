"""DELETE /image/{id}, DELETE /users/{id}, GET /users/{id}/export: receipts, audit, links."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from app.audit import subject_digest
from app.services import Services
from app.settings import Settings
from tests.app.erasure_fixtures import keys_of, stored_image

Auth = Callable[..., dict[str, str]]


def _audit(settings: Settings) -> list[dict[str, object]]:
    path = Path(settings.data_dir) / "audit" / "erasures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_deleting_an_image_answers_with_a_receipt_and_audits_it(
    client: FlaskClient, auth: Auth, services: Services, settings: Settings
) -> None:
    stored_image(services, "a1", "alice")
    response = client.delete("/image/a1", headers=auth("alice"))
    assert response.status_code == 200
    receipt = response.get_json()
    assert receipt["scope"] == "image" and receipt["subject"] == "a1"
    assert receipt["counts"] == {
        "images": 1,
        "originals": 1,
        "variants": 3,
        "work": 1,
        "records": 1,
    }
    assert "originals:a1" in receipt["keys_deleted"]
    assert receipt["invalidation_id"] is None  # embedded: no CDN
    assert receipt["time"].endswith("Z")
    assert keys_of(services, {"a1"}) == []
    assert client.get("/image/a1", headers=auth("alice")).status_code == 404
    assert client.delete("/image/a1", headers=auth("alice")).status_code == 404
    assert _audit(settings) == [receipt]


def test_erasing_a_user_by_an_admin_is_audited_without_their_id(
    client: FlaskClient, auth: Auth, services: Services, settings: Settings
) -> None:
    for n in range(3):
        stored_image(services, f"a{n}", "alice", t=n)
    response = client.delete("/users/alice", headers=auth("support", admin=True))
    assert response.status_code == 200
    assert response.get_json()["counts"]["images"] == 3
    again = client.delete("/users/alice", headers=auth("support", admin=True)).get_json()
    assert again["counts"]["images"] == 0  # idempotent
    lines = _audit(settings)
    assert len(lines) == 2
    assert lines[0]["subject"] == "hmac-sha256:" + subject_digest(
        settings.secret_key.reveal(), "alice"
    )
    assert "alice" not in json.dumps(lines)


def test_export_holds_every_record_and_working_links(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    for n in range(150):  # more than one catalog page
        stored_image(services, f"a{n:03d}", "alice", t=n)
    stored_image(services, "b1", "bob")
    body = client.get("/users/alice/export", headers=auth("alice")).get_json()
    assert body["user_id"] == "alice"
    assert len(body["images"]) == 150
    assert {i["user_id"] for i in body["images"]} == {"alice"}
    assert body["links_expire_in_seconds"] == 300
    first = body["images"][0]
    download = client.get(first["original_url"])
    assert download.status_code == 200
    assert download.data.startswith(b"\xff\xd8 original of alice")
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_a_malformed_user_id_is_a_400(client: FlaskClient, auth: Auth) -> None:
    response = client.delete("/users/not%20valid", headers=auth("support", admin=True))
    assert response.status_code == 400
