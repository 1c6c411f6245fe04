"""HTTP hardening: headers on every response, bounded bodies and JSON, the receiver's early 403."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.api import create_app
from app.api.hardening import JSON_BODY_LIMIT
from app.services import Services
from app.settings import Settings
from tests.conftest import RecordingJobs, make_settings

Auth = Callable[..., dict[str, str]]
WEB = Path(__file__).resolve().parents[3] / "web"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/web/upload.js"),
        ("get", "/health"),
        ("get", "/images"),
        ("get", "/image/nothing"),
        ("post", "/upload"),
        ("get", "/i/nothing/640.jpg"),
        ("get", "/no/such/route"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: FlaskClient, method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS


def test_the_page_gets_a_strict_policy_with_no_inline_script(client: FlaskClient) -> None:
    csp = client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "unsafe" not in csp  # neither 'unsafe-inline' nor 'unsafe-eval'


def test_the_api_answers_are_never_documents(client: FlaskClient, auth: Auth) -> None:
    csp = client.get("/images", headers=auth()).headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'")


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.handlers += [n for n in names if n.startswith("on")]
        if tag == "script":
            self._in_script = True
            if not names.get("src"):
                self.inline.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:40])


@pytest.mark.parametrize("page", sorted(p.name for p in WEB.glob("*.html")))
def test_pages_hold_no_inline_script_or_event_handler(page: str) -> None:
    parser = _Scripts()
    parser.feed((WEB / page).read_text())
    assert parser.inline == []
    assert parser.handlers == []


def test_hsts_only_when_served_over_https(tmp_path: Path, services: Services) -> None:
    settings = make_settings(tmp_path, public_base_url="https://images.example")
    app = create_app(settings, services=services, jobs=RecordingJobs())
    response = app.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    secure = app.test_client().get("/health", base_url="https://localhost")
    assert "Strict-Transport-Security" in secure.headers


@pytest.mark.parametrize(
    "raw",
    [
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":Infinity}',
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":-Infinity}',
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":NaN}',
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":1e400}',
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":"1e400"}',
        b'{"filename":"a.jpg","content_type":"image/jpeg","size":' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe not utf-8",
    ],
)
def test_hostile_json_is_a_400_never_a_500(client: FlaskClient, auth: Auth, raw: bytes) -> None:
    response = client.post("/upload", data=raw, content_type="application/json", headers=auth())
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("invalid_json", "invalid_parameter")


def test_deep_but_legal_strings_are_not_mistaken_for_nesting(
    client: FlaskClient, auth: Auth
) -> None:
    body = {"filename": "[" * 200 + ".jpg", "content_type": "image/jpeg", "size": 10}
    response = client.post("/upload", json=body, headers=auth())
    assert response.status_code == 201


class _Unreadable(io.RawIOBase):
    """A body that fails the test if the server reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_an_oversized_json_body_is_refused_before_it_is_read(
    client: FlaskClient, auth: Auth
) -> None:
    response = client.post(
        "/upload",
        content_type="application/json",
        headers=auth(),
        environ_overrides={
            "wsgi.input": _Unreadable(),
            "CONTENT_LENGTH": str(JSON_BODY_LIMIT + 1),
        },
    )
    assert response.status_code == 413


class _CountingForm(io.RawIOBase):
    """A multipart body made on demand: fields, then a file of `size` bytes; counts reads."""

    def __init__(self, fields: dict[str, str], size: int) -> None:
        self.boundary = "----imagepipe-test-boundary"
        head = "".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        self._head = head.encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.size = size
        self.length = len(self._head) + size + len(self._tail)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        start, n = self.read_bytes, len(buffer)
        chunk = bytearray()
        head_end, file_end = len(self._head), len(self._head) + self.size
        while len(chunk) < n and start + len(chunk) < self.length:
            at = start + len(chunk)
            if at < head_end:
                chunk += self._head[at : min(head_end, at + n - len(chunk))]
            elif at < file_end:
                chunk += b"\0" * min(file_end - at, n - len(chunk))
            else:
                chunk += self._tail[at - file_end : at - file_end + n - len(chunk)]
        buffer[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def _post_form(client: FlaskClient, form: _CountingForm) -> Any:
    return client.post(
        "/upload/receive",
        environ_overrides={
            "wsgi.input": io.BufferedReader(form),
            "CONTENT_LENGTH": str(form.length),
            "CONTENT_TYPE": f"multipart/form-data; boundary={form.boundary}",
        },
    )


def test_an_anonymous_40_mb_upload_is_refused_before_its_file_is_read(
    client: FlaskClient, services: Services
) -> None:
    form = _CountingForm({"key": "anything", "Content-Type": "image/jpeg"}, 40 * 1000 * 1000)
    response = _post_form(client, form)
    assert response.status_code == 403
    assert form.read_bytes < 1024 * 1024  # one chunk or two, not 40 MB
    assert list(services.originals.list()) == []


def test_a_signed_upload_over_its_policy_stops_at_the_limit(
    client: FlaskClient, auth: Auth, services: Services
) -> None:
    ticket = client.post(
        "/upload",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 1000},
        headers=auth(),
    ).get_json()
    form = _CountingForm(ticket["upload"]["fields"], 30 * 1000 * 1000)
    response = _post_form(client, form)
    assert response.status_code == 413
    assert form.read_bytes < 2 * 1024 * 1024
    assert not services.originals.exists(ticket["image_id"])


def test_a_signed_upload_streams_through(
    client: FlaskClient, auth: Auth, services: Services, jobs: RecordingJobs
) -> None:
    ticket = client.post(
        "/upload",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 3_000_000},
        headers=auth(),
    ).get_json()
    form = _CountingForm(ticket["upload"]["fields"], 3_000_000)
    assert _post_form(client, form).status_code == 204
    assert services.originals.stat(ticket["image_id"]).size == 3_000_000
    assert jobs.created == [ticket["image_id"]]


def test_errors_never_echo_a_token(client: FlaskClient, settings: Settings) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
    response = client.get("/images", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    text = json.dumps(response.get_json())
    assert token not in text and "c2lnbmF0dXJlLWJ5dGVz" not in text
