"""POST /upload and the embedded receiver, which enforces the policy as S3 would."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.catalog import Status
from app.services import Services
from app.uploads.policy import SIGNATURE_FIELD
from tests.conftest import RecordingJobs, photo

Auth = Callable[..., dict[str, str]]


def ask(client: FlaskClient, auth: Auth, **body: Any) -> Any:
    payload = {"filename": "storm.jpg", "content_type": "image/jpeg", "size": 695070} | body
    return client.post("/upload", json=payload, headers=auth())


def send(client: FlaskClient, upload: dict[str, Any], data: bytes, **overrides: str) -> Any:
    fields = upload["fields"] | overrides
    form: dict[str, Any] = dict(fields)
    form["file"] = (__import__("io").BytesIO(data), "storm.jpg")
    return client.post("/upload/receive", data=form, content_type="multipart/form-data")


def test_upload_returns_a_presigned_post_shape(client: FlaskClient, auth: Auth) -> None:
    response = ask(client, auth)
    assert response.status_code == 201
    body = response.get_json()
    upload = body["upload"]
    assert upload["method"] == "POST"
    assert upload["url"] == "http://testserver/upload/receive"
    assert upload["fields"]["key"] == body["image_id"]
    assert upload["max_bytes"] == 695070
    assert upload["expires_at"].endswith("Z")
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 695070] in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]


def test_the_whole_upload_stores_and_raises_object_created(
    client: FlaskClient, auth: Auth, services: Services, jobs: RecordingJobs
) -> None:
    data = photo("mate_Storm.jpg").read_bytes()
    body = ask(client, auth, size=len(data)).get_json()
    assert services.catalog.get(body["image_id"]).status is Status.PENDING
    response = send(client, body["upload"], data)
    assert response.status_code == 204
    assert services.originals.get(body["image_id"]) == data
    assert jobs.created == [body["image_id"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content_type": "application/pdf"}, 415, "unsupported_media_type"),
        ({"content_type": "image/svg+xml"}, 415, "unsupported_media_type"),
        ({"size": 50_000_001}, 413, "too_large"),
        ({"size": 0}, 400, "invalid_parameter"),
        ({"size": "big"}, 400, "invalid_parameter"),
        ({"filename": None}, 400, "missing_parameter"),
        ({"colour": "red"}, 400, "unknown_parameter"),
    ],
)
def test_bad_declarations_are_refused_and_nothing_is_stored(
    client: FlaskClient,
    auth: Auth,
    services: Services,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = ask(client, auth, **body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert list(services.originals.list()) == []


def test_heic_from_an_iphone_is_accepted(client: FlaskClient, auth: Auth) -> None:
    assert ask(client, auth, content_type="image/heic").status_code == 201


def test_non_json_body(client: FlaskClient, auth: Auth) -> None:
    response = client.post("/upload", data="x", headers=auth())
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({SIGNATURE_FIELD: "0" * 64}, "bad_signature"),
        ({"key": "someone-elses-key"}, "key_mismatch"),
        ({"Content-Type": "image/png"}, "content_type_mismatch"),
        (
            {"policy": base64.b64encode(b'{"expiration":"2099-01-01T00:00:00Z"}').decode()},
            "bad_signature",
        ),
        # Found by schemathesis: compare_digest raised TypeError on a non-ASCII str (a 500).
        ({SIGNATURE_FIELD: "é" * 64}, "bad_signature"),
    ],
)
def test_receiver_enforces_the_policy(
    client: FlaskClient, auth: Auth, services: Services, override: dict[str, str], code: str
) -> None:
    body = ask(client, auth, size=100).get_json()
    response = send(client, body["upload"], b"\xff\xd8\xff" + b"0" * 50, **override)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == code
    assert not services.originals.exists(body["image_id"])


def test_receiver_refuses_more_bytes_than_declared(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    body = ask(client, auth, size=100).get_json()
    response = send(client, body["upload"], b"x" * 101)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "entity_too_large"
    assert not services.originals.exists(body["image_id"])


def test_receiver_refuses_an_expired_form(
    client: FlaskClient, auth: Auth, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = ask(client, auth, size=100).get_json()
    from app.uploads import policy

    later = policy.time.time() + 3600
    monkeypatch.setattr(policy.time, "time", lambda: later)
    response = send(client, body["upload"], b"x" * 10)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "expired"


def test_a_form_cannot_be_used_twice(client: FlaskClient, auth: Auth, services: Services) -> None:
    body = ask(client, auth, size=100).get_json()
    assert send(client, body["upload"], b"first").status_code == 204
    response = send(client, body["upload"], b"second")
    assert response.status_code == 409
    assert services.originals.get(body["image_id"]) == b"first"  # nothing stored is lost


def test_missing_file_part(client: FlaskClient, auth: Auth) -> None:
    body = ask(client, auth, size=100).get_json()
    response = client.post("/upload/receive", data=body["upload"]["fields"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_file"
