"""GET /health: is each backend reachable? (No token: load balancers call it.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from app.api.context import platform

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> tuple[dict[str, Any], int]:
    p = platform()
    checks: dict[str, Callable[[], None]] = {
        "originals": p.services.originals.ping,
        "variants": p.services.variants.ping,
        "catalog": p.services.catalog.ping,
        "broker": p.jobs.ping,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to report
            results[name] = f"unavailable: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    return {"status": "ok" if healthy else "degraded", "backends": results}, 200 if healthy else 503
