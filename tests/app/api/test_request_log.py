"""Request IDs and the API's log lines: JSON with the request's fields, no personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import logs
from app.settings import Settings
from tests.conftest import SECRET

Auth = Callable[..., dict[str, str]]
FORM = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}


@pytest.fixture
def lines(settings: Settings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logs.configure(replace(settings, log_format="json"), stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_request_logs_a_json_line_with_its_request_id_echoed_in_the_header(
    client: FlaskClient, lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = client.get("/health/live")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    (line,) = [x for x in lines() if x["logger"] == "imagepipe.requests"]
    assert line["request_id"] == request_id
    assert line["message"] == "GET /health/live 200"
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"


def test_a_sane_inbound_request_id_is_kept_and_a_strange_one_replaced(
    client: FlaskClient, lines: Callable[[], list[dict[str, Any]]]
) -> None:
    kept = client.get("/health/live", headers={"X-Request-ID": "lb-7f3a9c21e0d4"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a9c21e0d4"
    for strange in ("short", "x" * 65, "has space in it", "ok-but\u00e9-accent"):
        answered = client.get("/health/live", headers={"X-Request-ID": strange})
        assert answered.headers["X-Request-ID"] != strange
    assert len({x["request_id"] for x in lines()}) == 5


def test_an_upload_line_names_the_image_and_a_hashed_user_never_the_user_or_token(
    client: FlaskClient, auth: Auth, lines: Callable[[], list[dict[str, Any]]]
) -> None:
    headers = auth("alice@example.com")
    response = client.post("/upload", json=FORM, headers=headers)
    assert response.status_code == 201
    image_id = response.get_json()["image_id"]
    (line,) = [x for x in lines() if x["logger"] == "imagepipe.requests"]
    assert line["image_id"] == image_id
    assert line["user_id"] == logs.hashed_user(SECRET, "alice@example.com")
    assert line["message"] == "POST /upload 201"
    text = json.dumps(lines())
    assert "alice" not in text
    assert headers["Authorization"].split()[1] not in text
    assert "sig=" not in text and "signature" not in text.lower()


def test_the_users_hash_is_keyed(settings: Settings) -> None:
    one = logs.hashed_user(SECRET, "alice")
    assert one == logs.hashed_user(SECRET, "alice")  # one grep finds all of a user's lines
    assert one != logs.hashed_user("another-secret-key-0123456789", "alice")
    assert one != logs.hashed_user(SECRET, "bob")


def test_text_by_default_when_embedded_json_by_default_on_aws(settings: Settings) -> None:
    assert logs.log_format(settings) == "text"
    on_aws = replace(settings, catalog_url="dynamodb://images", broker_url="sqs://")
    assert logs.log_format(on_aws) == "json"
    assert logs.log_format(replace(on_aws, log_format="text")) == "text"
    assert logs.log_format(replace(settings, log_format="json")) == "json"


def test_text_lines_carry_the_bound_fields_readably(settings: Settings) -> None:
    stream = io.StringIO()
    handler = logs.configure(settings, stream)
    try:
        with logs.bound(request_id="r-12345678", image_id="abc"):
            logging.getLogger("imagepipe.test").info("stored %d variants", 3)
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("imagepipe.test: stored 3 variants [request_id=r-12345678 image_id=abc]")
