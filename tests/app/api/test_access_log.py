"""The access log never holds a signed URL, a token or a cookie."""

from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from app.api.access_log import RedactingLogger

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
