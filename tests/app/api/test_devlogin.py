"""POST /dev/token: the page's "sign in as" form, in embedded mode only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.api import create_app
from app.aws import AwsLocation
from app.services import build_services
from tests.conftest import RecordingJobs, make_settings


def _app(tmp_path: Path, **settings: Any) -> Flask:
    config = make_settings(tmp_path, **settings)
    app = create_app(config, services=build_services(config), jobs=RecordingJobs())
    app.testing = True
    return app


def test_embedded_mode_signs_in_as_any_user_with_a_working_token(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    answer = client.post("/dev/token", json={"user_id": "carol"})
    assert answer.status_code == 201
    token = answer.get_json()["token"]
    listed = client.get("/images", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    forbidden = client.get("/images?user_id=alice", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403  # a plain user, never an admin


def test_a_bad_user_id_is_refused(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    assert client.post("/dev/token", json={"user_id": "no spaces"}).status_code == 400
    assert client.post("/dev/token", json={}).status_code == 400
    # "$" in the user-ID pattern matched before a final newline: "alice\n" was a user.
    refused = client.post("/dev/token", json={"user_id": "alice\n"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "invalid_parameter"


def test_the_route_does_not_exist_outside_embedded_mode(tmp_path: Path, aws: AwsLocation) -> None:
    # aws: moto, before anything builds the process's one boto3 session (app/aws.py).
    on_aws = _app(tmp_path, catalog_url="dynamodb://images").test_client()
    answer = on_aws.post("/dev/token", json={"user_id": "carol"})
    assert answer.status_code == 404
    assert "token" not in answer.get_json()
    with_cognito = _app(
        tmp_path,
        cognito_user_pool_id="eu-west-1_abc",
        cognito_client_id="x",
        cognito_region="eu-west-1",
    ).test_client()
    assert with_cognito.post("/dev/token", json={"user_id": "carol"}).status_code == 404


def test_sign_ins_are_rate_limited_per_address(tmp_path: Path) -> None:
    client = _app(tmp_path, auth_failure_rate="3/minute").test_client()
    answers = [
        client.post(
            "/dev/token", json={"user_id": "carol"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
        ).status_code
        for _ in range(4)
    ]
    assert answers == [201, 201, 201, 429]
    other = client.post(
        "/dev/token", json={"user_id": "carol"}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert other.status_code == 201
