"""Health checks for orchestrators and load balancers (no token: they cannot send one).

- ``GET /health/live``: the process answers. Restart it when this fails.
- ``GET /health/ready``: every backend answers within its timeout. Send no traffic while this
  fails. ``GET /health`` is the same check, kept for existing callers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint

from app.api.context import platform
from app.api.operations import Reply, operation
from app.api.responses import Live, Readiness

blueprint = Blueprint("health", __name__)

_checks = ThreadPoolExecutor(8, thread_name_prefix="health")


@blueprint.get("/health/live")
@operation("The process answers", tag="health", auth=False, ok={200: Reply("alive", Live)})
def live() -> dict[str, Any]:
    """Touches no backend: restart the process when this fails."""
    return {"status": "alive"}


@blueprint.get("/health/ready")
@blueprint.get("/health")
@operation(
    "Every backend answers",
    tag="health",
    auth=False,
    ok={
        200: Reply("every backend answered in time", Readiness),
        503: Reply("a backend is down or slow: send no traffic", Readiness),
    },
)
def ready() -> tuple[dict[str, Any], int]:
    """Storage, catalog and broker, each checked with a timeout. `/health` is the same check."""
    p = platform()
    checks: dict[str, Callable[[], None]] = {
        "originals": p.services.originals.ping,
        "variants": p.services.variants.ping,
        "catalog": p.services.catalog.ping,
        "broker": p.jobs.ping,
    }
    # A check still running after this is reported as timed out; its thread finishes on its own.
    timeout = p.services.settings.health_timeout_seconds
    running = {name: _checks.submit(check) for name, check in checks.items()}
    results: dict[str, str] = {}
    for name, future in running.items():
        try:
            future.result(timeout=timeout)
            results[name] = "ok"
        except FutureTimeout:
            results[name] = f"unavailable: no answer within {timeout} s"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to report
            results[name] = f"unavailable: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    return {"status": "ok" if healthy else "degraded", "backends": results}, 200 if healthy else 503
