"""GET /metrics for Prometheus: requests by route and status, uploads accepted and refused.

Labels are bounded: the route is the URL rule (``/images/<image_id>``), never the raw path, and
no label holds a user ID. Under gunicorn every worker process writes to the multiprocess folder
(app/api/gunicorn_conf.py) and any of them answers for all.

Who may read it: metrics are not for the public (they show traffic and refusals). With
IMAGEPIPE_METRICS_TOKEN set, a scrape must send ``Authorization: Bearer <token>``; without it,
only a client on the loopback address (a sidecar, an SSH tunnel) gets an answer. Everyone else
gets the same 404 as any unknown path.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from app import metrics
from app.api.errors import ApiError
from app.api.operations import Reply, operation
from app.api.request_log import route
from app.settings import Settings

UPLOAD_ENDPOINT = "uploads.create_upload"


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "imagepipe_http_requests_total",
            "HTTP requests answered, by route (URL rule), method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "imagepipe_http_request_duration_seconds",
            "Time to answer a request, by route (URL rule), method and status.",
            ["route", "method", "status"],
            buckets=metrics.LATENCY_BUCKETS,
            registry=registry,
        )
        self.uploads = Counter(
            "imagepipe_uploads_total",
            "POST /upload outcomes: accepted, or refused with its status and error code.",
            ["outcome", "status", "reason"],
            registry=registry,
        )

    def observe(self, response: Response, seconds: float) -> None:
        status = str(response.status_code)
        labels = (route(), request.method, status)
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        if request.endpoint == UPLOAD_ENDPOINT and request.method == "POST":
            self.uploads.labels(*_upload_outcome(response)).inc()


def _upload_outcome(response: Response) -> tuple[str, str, str]:
    if response.status_code < 400:
        return "accepted", str(response.status_code), ""
    return "refused", str(response.status_code), _error_code(response)


def _error_code(response: Response) -> str:
    """The error body's code (a constant of this code base, so a bounded label)."""
    body = response.get_json(silent=True) if response.is_json else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        if isinstance(code, str) and code.isidentifier() and len(code) <= 40:
            return code
    return "unknown"


def _may_read(settings: Settings) -> bool:
    if settings.metrics_token:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), settings.metrics_token.reveal().encode()
        )
    # The socket's peer, not what a proxy's X-Forwarded-For claims (ProxyFix keeps the original).
    proxied = request.environ.get("werkzeug.proxy_fix.orig", {})
    peer = proxied.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def install(app: Flask, settings: Settings) -> ApiMetrics:
    recorder = ApiMetrics(CollectorRegistry())
    app.extensions["imagepipe_metrics"] = recorder

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            recorder.observe(response, time.perf_counter() - started)
        return response

    @app.get("/metrics")
    @operation(
        "Prometheus metrics of every API process",
        tag="operations",
        auth=False,
        ok={200: Reply("Prometheus text format", None, media=("text/plain",))},
        errors=(404,),
    )
    def scrape() -> Response:
        if not _may_read(settings):
            raise ApiError(404, "not_found", "no such page")
        body = generate_latest(metrics.scrape_registry(recorder.registry))
        return Response(
            body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
        )

    return recorder
