"""Liveness and readiness: what an orchestrator's checks are told."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.catalog import CatalogUnavailable
from app.services import Services


def test_live_answers_without_touching_any_backend(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise CatalogUnavailable("down")

    monkeypatch.setattr(services.catalog, "ping", broken)
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 503


def test_ready_names_each_backend(client: FlaskClient) -> None:
    body = client.get("/health/ready").get_json()
    assert body == {
        "status": "ok",
        "backends": {"originals": "ok", "variants": "ok", "catalog": "ok", "broker": "ok"},
    }
    assert client.get("/health").get_json() == body  # the old route answers the same


def test_a_backend_that_hangs_is_reported_after_its_timeout(
    client: FlaskClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    settings = services.settings
    # Services is frozen; the app reads its settings at each request.
    object.__setattr__(services, "settings", replace(settings, health_timeout_seconds=1))
    monkeypatch.setattr(services.variants, "ping", lambda: release.wait(30))
    try:
        response = client.get("/health/ready")
    finally:
        release.set()
        object.__setattr__(services, "settings", settings)
    body: dict[str, Any] = response.get_json()
    assert response.status_code == 503
    assert body["backends"]["variants"].startswith("unavailable: no answer within")
    assert body["backends"]["catalog"] == "ok"
