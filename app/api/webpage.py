"""The upload page in web/, served by the app in embedded mode."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"

blueprint = Blueprint("webpage", __name__)


@blueprint.get("/")
def index() -> Response:
    return send_from_directory(WEB_ROOT, "index.html", max_age=0)


@blueprint.get("/web/<path:name>")
def asset(name: str) -> Response:
    return send_from_directory(WEB_ROOT, name, max_age=0)
