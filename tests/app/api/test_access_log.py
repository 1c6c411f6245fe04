"""The access log never holds a signed URL, a token or a cookie."""

from __future__ import annotations

import datetime
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from gunicorn.config import Config

from app.api.access_log import RedactingLogger
from tests.e2e.processes import embedded_env, free_port, process, wait_for

SIGNED = "/i/abc/640.webp?exp=1900000000&kid=k0&sig=SECRETSIGNATURE"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.SECRETTOKEN"


def _log_line(caplog: pytest.LogCaptureFixture, access_format: str | None = None) -> str:
    config = Config()
    config.set("accesslog", "-")
    if access_format:
        config.set("access_log_format", access_format)
    logger = RedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": SIGNED,
        "PATH_INFO": "/i/abc/640.webp",
        "QUERY_STRING": SIGNED.split("?", 1)[1],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"http://site.example{SIGNED}",
        "HTTP_USER_AGENT": "test",
    }
    request = SimpleNamespace(
        headers=[("AUTHORIZATION", f"Bearer {TOKEN}"), ("COOKIE", "session=SECRETCOOKIE")]
    )
    response = SimpleNamespace(
        status="302 Found",
        sent=0,
        headers=[("Location", f"/i/abc/640.jpg?{SIGNED.split('?', 1)[1]}")],
    )
    logger.access_log.propagate = True
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, request, environ, datetime.timedelta(milliseconds=3))
    return "\n".join(r.getMessage() for r in caplog.records)


def test_the_default_format_keeps_the_path_and_drops_the_signature(
    caplog: pytest.LogCaptureFixture,
) -> None:
    line = _log_line(caplog)
    assert "GET /i/abc/640.webp HTTP/1.1" in line
    assert "SECRET" not in line


def test_no_format_can_reach_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    everything = "%(r)s %(q)s %(f)s %({authorization}i)s %({cookie}i)s %({location}o)s"
    line = _log_line(caplog, everything)
    assert "SECRET" not in line
    assert "/i/abc/640.jpg" in line  # the redirect's target is still there, unsigned


@pytest.mark.e2e
def test_gunicorn_with_the_redacting_logger_never_writes_a_signature(tmp_path: Path) -> None:
    """The Procfile's web line, run for real: a signed URL's query is not in the access log."""
    port = free_port()
    env = embedded_env(tmp_path / "var", port)
    log = tmp_path / "access.log"
    args = [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--access-logfile", str(log), "--logger-class", "app.api.access_log.RedactingLogger",
        "app.wsgi:app",
    ]  # fmt: skip
    with process(args, env, tmp_path / "web.log"):
        url = f"http://127.0.0.1:{port}/i/abc/640.webp?exp=1900000000&kid=k0&sig=SECRETSIG"
        wait_for(lambda: _get(url), timeout=60, what="the API")
        wait_for(lambda: "/i/abc/640.webp" in _read(log) or None, timeout=30, what="the log")
    text = _read(log)
    assert "GET /i/abc/640.webp HTTP/1.1" in text
    assert "SECRETSIG" not in text and "kid=" not in text


def _get(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_with_json_logs_gunicorns_own_lines_are_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io
    import json

    monkeypatch.setenv("IMAGEPIPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGEPIPE_LOG_FORMAT", "json")
    config = Config()
    config.set("accesslog", "-")
    logger = RedactingLogger(config)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": SIGNED, "PATH_INFO": "/i/abc/640.webp",
               "QUERY_STRING": SIGNED.split("?", 1)[1], "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1"}  # fmt: skip
    response = SimpleNamespace(status="200 OK", sent=0, headers=[])
    logger.access(response, SimpleNamespace(headers=[]), environ, datetime.timedelta(0))
    line = json.loads(stream.getvalue())
    assert line["logger"] == "gunicorn.access"
    assert "GET /i/abc/640.webp HTTP/1.1" in line["message"]
    assert "SECRETSIGNATURE" not in stream.getvalue()
