"""A request ID for every request, echoed in X-Request-ID, and one log line per request.

An inbound X-Request-ID is kept when it is sane (a load balancer's or a client's), otherwise a
new one is made. It is bound to every line the request logs, and the job queue sends it with the
task it starts (app/jobs.py), so the worker's lines for that image carry it too.

The line names the route (``/images/<image_id>``), never the raw path or its query string:
signed URLs and IDs in paths stay out of the log (gunicorn's own access log is redacted by
app/api/access_log.py).
"""

from __future__ import annotations

import logging
import time
from contextvars import Token
from typing import Any

from flask import Flask, Response, g, request

from app import logs
from app.api.running import current_settings

log = logging.getLogger("imagepipe.requests")


def route() -> str:
    """The matched URL rule (a bounded set), or "<unmatched>"."""
    rule = request.url_rule
    return rule.rule if rule is not None else "<unmatched>"


def note_user(user_id: str) -> None:
    """The request's caller, for its log lines: a keyed hash, never the ID itself."""
    if "log_token" not in g:  # outside a request's scope the binding would outlive it
        return
    secret = current_settings().secret_key.reveal()
    logs.bind(user_id=logs.hashed_user(secret, user_id))


def install(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = logs.request_id_from(request.headers.get(logs.REQUEST_ID_HEADER))
        g.log_token = logs.bind(request_id=g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[logs.REQUEST_ID_HEADER] = request_id
            ms = round((time.perf_counter() - g.request_started) * 1000, 1)
            extra: dict[str, Any] = {"duration_ms": ms}
            log.info("%s %s %d", request.method, route(), response.status_code, extra=extra)
        return response

    @app.teardown_request
    def _forget(_: BaseException | None) -> None:
        token: Token[Any] | None = g.pop("log_token", None)
        if token is not None:
            logs.restore(token)
