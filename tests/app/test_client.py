"""app/client.py: which failures are retried, how long it waits, and what a user is told."""

from __future__ import annotations

import email.message
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from app.api_client import Api, ClientError, Refused, Transient, backoff, with_retries
from app.client import upload


class Script:
    """An opener that answers each request with the next scripted outcome."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[urllib.request.Request] = []
        self.bodies: list[bytes] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        self.requests.append(request)
        data = request.data
        body = b"" if data is None else data if isinstance(data, bytes) else b"".join(data)  # type: ignore[arg-type]
        self.bodies.append(body)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        status, payload = outcome
        if status >= 400:
            headers = email.message.Message()
            raise urllib.error.HTTPError(
                request.full_url, status, "error", headers, io.BytesIO(json.dumps(payload).encode())
            )
        return _Response(status, json.dumps(payload).encode() if payload is not None else b"")


class _Response(io.BytesIO):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(body)
        self.status = status
        self.headers = email.message.Message()


def _api(script: Script, slept: list[float] | None = None) -> Api:
    waits = [] if slept is None else slept
    return Api("http://api.test", "tok", sleep=waits.append, opener=script)


def _error(status: int, code: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": f"it is {code}"}}


def test_backoff_doubles_from_half_a_second_to_at_most_eight_with_jitter() -> None:
    assert [backoff(n, rng=lambda: 1.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert [backoff(n, rng=lambda: 0.0) for n in range(3)] == [0.25, 0.5, 1]


def test_network_errors_are_retried_until_an_answer() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def send(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 2:
            raise Transient("connection reset")
        return "done"

    assert with_retries(send, sleep=slept.append) == "done"
    assert calls == [0, 1, 2]
    assert len(slept) == 2 and slept[0] <= 0.5 < slept[1] <= 1.0


def test_retries_stop_after_the_limit() -> None:
    calls: list[int] = []

    def send(attempt: int) -> None:
        calls.append(attempt)
        raise Transient("down")

    with pytest.raises(Transient):
        with_retries(send, retries=3, sleep=lambda _: None)
    assert calls == [0, 1, 2, 3]


def test_a_4xx_answer_is_never_retried() -> None:
    script = Script(_error(415, "unsupported_media_type"))
    with pytest.raises(Refused) as refused:
        _api(script).call("POST", "/upload", {})
    assert refused.value.status == 415
    assert len(script.requests) == 1


def test_a_5xx_answer_and_a_dropped_connection_are_retried() -> None:
    slept: list[float] = []
    script = Script(
        _error(503, "busy"), urllib.error.URLError(ConnectionResetError("reset")), (200, {"ok": 1})
    )
    assert _api(script, slept).call("GET", "/images") == {"ok": 1}
    assert len(script.requests) == 3
    assert len(slept) == 2


def test_an_unreachable_api_and_a_refused_token_end_the_run_with_a_sentence() -> None:
    down = Script(*[urllib.error.URLError(ConnectionRefusedError("refused"))] * 6)
    with pytest.raises(ClientError, match=r"cannot reach the API at http://api\.test"):
        _api(down).call("GET", "/images")
    refused = Script(_error(401, "invalid_token"))
    with pytest.raises(ClientError, match="the API refused the token"):
        _api(refused).call("GET", "/images")


def _ticket(**upload: Any) -> tuple[int, dict[str, Any]]:
    form = {"method": "POST", "url": "http://store.test/receive", "fields": {"key": "k"}}
    return 201, {"image_id": "img1", "upload": form | upload}


def test_a_form_whose_answer_was_lost_counts_as_sent_on_the_retry(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8" + b"x" * 100)
    script = Script(
        _ticket(),
        urllib.error.URLError(TimeoutError("timed out")),  # the bytes went, the answer did not
        _error(409, "already_uploaded"),
    )
    progress: list[tuple[int, int]] = []
    assert upload(_api(script), path, progress=lambda d, t: progress.append((d, t))) == "img1"
    assert json.loads(script.bodies[0])["content_type"] == "image/jpeg"
    assert b'name="key"\r\n\r\nk\r\n' in script.bodies[1]
    # The same form, whole, again (under a new boundary).
    assert len(script.bodies[2]) == len(script.bodies[1])
    assert b"\xff\xd8" + b"x" * 100 in script.bodies[2]
    assert progress[-1] == (102, 102)


def test_a_409_on_the_first_attempt_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 10)
    script = Script(_ticket(), _error(409, "already_uploaded"))
    with pytest.raises(Refused):
        upload(_api(script), path)


def test_multipart_resumes_with_the_part_that_failed(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(b"a" * 6 + b"b" * 4)
    parts = [
        {"part_number": 1, "url": "http://store.test/p1", "size": 6},
        {"part_number": 2, "url": "http://store.test/p2", "size": 4},
    ]
    multipart = {
        "upload_id": "u1",
        "part_size": 6,
        "parts": parts,
        "complete_url": "http://api.test/upload/img1/complete",
    }
    script = Script(
        _ticket(multipart=multipart),  # the shape POST /upload answers (app/uploads/s3_post.py)
        (200, None),  # part 1
        urllib.error.URLError(ConnectionResetError("reset")),  # part 2 drops
        (200, None),  # part 2 again
        (204, None),  # complete
    )
    assert upload(_api(script), path) == "img1"
    urls = [r.full_url for r in script.requests]
    assert urls[1:] == [
        "http://store.test/p1",
        "http://store.test/p2",
        "http://store.test/p2",
        "http://api.test/upload/img1/complete",
    ]
    assert script.bodies[1:4] == [b"aaaaaa", b"bbbb", b"bbbb"]
    # Raw bytes, not urllib's default urlencoded form (moto's S3 parsed it as one and hung).
    assert {r.get_header("Content-type") for r in script.requests[1:4]} == {
        "application/octet-stream"
    }
    assert json.loads(script.bodies[4])["upload_id"] == "u1"
