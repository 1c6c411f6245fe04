"""GET /metrics: requests by route and status, upload refusals by reason, and who may read it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.api import create_app
from app.services import build_services
from tests.conftest import ROOT, RecordingJobs, make_settings

Auth = Callable[..., dict[str, str]]
FORM = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}


def samples(client: FlaskClient, **headers: str) -> dict[tuple[str, frozenset[Any]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_and_timed_by_route_never_by_raw_path(
    client: FlaskClient, auth: Auth
) -> None:
    for _ in range(2):
        assert client.get("/health/live").status_code == 200
    for image_id in ("0123456789abcdef", "fedcba9876543210"):
        assert client.get(f"/image/{image_id}", headers=auth()).status_code == 404
    assert client.get("/no/such/path?sig=secret").status_code == 404
    found = samples(client)
    total = "imagepipe_http_requests_total"
    assert value(found, total, route="/health/live", method="GET", status="200") == 2
    assert value(found, total, route="/image/<image_id>", method="GET", status="404") == 2
    assert value(found, total, route="<unmatched>", method="GET", status="404") == 1
    latency = "imagepipe_http_request_duration_seconds_count"
    assert value(found, latency, route="/health/live", method="GET", status="200") == 2
    assert value(found, latency, route="/image/<image_id>", method="GET", status="404") == 2
    body = client.get("/metrics").get_data(as_text=True)
    assert "0123456789abcdef" not in body
    assert "/no/such/path" not in body
    assert "secret" not in body
    assert "alice" not in body


def test_uploads_accepted_and_refused_by_status_and_reason(tmp_path: Path, auth: Auth) -> None:
    jobs = RecordingJobs()
    settings = make_settings(tmp_path, max_open_per_user=1, max_backlog=5)
    app = create_app(settings, services=build_services(settings), jobs=jobs)
    app.testing = True
    client = app.test_client()
    assert client.post("/upload", json=FORM, headers=auth()).status_code == 201
    assert client.post("/upload", json=FORM, headers=auth()).status_code == 429
    gif = FORM | {"content_type": "text/html"}
    assert client.post("/upload", json=gif, headers=auth("bob")).status_code == 415
    huge = FORM | {"size": settings.max_upload_bytes + 1}
    assert client.post("/upload", json=huge, headers=auth("bob")).status_code == 413
    jobs.queued = 6
    assert client.post("/upload", json=FORM, headers=auth("bob")).status_code == 503
    found = samples(client)
    name = "imagepipe_uploads_total"
    assert value(found, name, outcome="accepted", status="201", reason="") == 1
    assert value(found, name, outcome="refused", status="429", reason="too_many_unfinished") == 1
    assert value(found, name, outcome="refused", status="415", reason="unsupported_media_type") == 1
    assert value(found, name, outcome="refused", status="413", reason="too_large") == 1
    assert value(found, name, outcome="refused", status="503", reason="busy") == 1


def test_the_rate_limits_429_is_a_refusal_reason_too(tmp_path: Path, auth: Auth) -> None:
    settings = make_settings(tmp_path, upload_rate_per_user="1/minute")
    app = create_app(settings, services=build_services(settings), jobs=RecordingJobs())
    client = app.test_client()
    assert client.post("/upload", json=FORM, headers=auth()).status_code == 201
    assert client.post("/upload", json=FORM, headers=auth()).status_code == 429
    found = samples(client)
    name = "imagepipe_uploads_total"
    assert value(found, name, outcome="refused", status="429", reason="too_many_requests") == 1


def test_only_loopback_clients_may_read_it_without_a_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert remote.get("/metrics").status_code == 404


def test_a_proxy_header_does_not_pass_for_loopback(app: Flask) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert remote.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404


def test_with_a_token_set_a_scrape_must_send_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token="scrape-token-0123456789")
    app = create_app(settings, services=build_services(settings), jobs=RecordingJobs())
    client = app.test_client()
    assert client.get("/metrics").status_code == 404  # loopback is not enough then
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/metrics", headers=wrong).status_code == 404
    right = {"Authorization": "Bearer scrape-token-0123456789"}
    assert client.get("/metrics", headers=right).status_code == 200


_ONE_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.api import create_app
    from app.services import build_services
    from tests.conftest import RecordingJobs, make_settings

    settings = make_settings(Path(sys.argv[1]))
    app = create_app(settings, services=build_services(settings), jobs=RecordingJobs())
    for _ in range(int(sys.argv[2])):
        assert app.test_client().get("/health/live").status_code == 200
    """
)


def test_one_scrape_adds_up_every_process_in_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for count in (2, 3):  # two gunicorn workers, in effect
        subprocess.run(
            [sys.executable, "-c", _ONE_PROCESS, str(tmp_path), str(count)],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
    # This process answers the scrape: it reads the folder, whatever it counted itself.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    settings = make_settings(tmp_path)
    app = create_app(settings, services=build_services(settings), jobs=RecordingJobs())
    found = samples(app.test_client())
    total = "imagepipe_http_requests_total"
    assert value(found, total, route="/health/live", method="GET", status="200") == 5
