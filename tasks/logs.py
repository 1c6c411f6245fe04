"""The worker's log lines: our format on Celery's handlers, and the request ID along the chain.

A task message carries the ID in its ``request_id`` header: the API sets it on the ingest task
(app/jobs.py), and every task sent while a task runs (the chain's next stage, a retry) gets the
running one's. A task that arrives without one (an S3 event read by tasks/ingest.py on AWS, the
reconciler's requeue) makes a new one, which its chain then carries: every stage of one chain
shares an ID, and every line names its image, so ``grep <image_id>`` follows an image from
POST /upload to ready in any mode.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
)

from app import logs
from app.settings import current
from app.storage.base import image_id_from_key

HEADER = "request_id"
_tokens: dict[str, Token[Any]] = {}


def task_request_id(task: Any) -> str | None:
    """The message's request ID, validated like an inbound X-Request-ID (None: none sent)."""
    request = getattr(task, "request", None)
    raw = getattr(request, HEADER, None)
    if raw is None:  # eager calls keep custom headers apart
        raw = (getattr(request, "headers", None) or {}).get(HEADER)
    return logs.request_id_from(raw) if isinstance(raw, str) and raw else None


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = logs.current_request_id()
    if headers is not None and request_id and not headers.get(HEADER):
        headers[HEADER] = request_id


@task_prerun.connect
def _bind(task_id: str | None = None, task: Any = None, args: Any = (), **rest: Any) -> None:
    kwargs = rest.get("kwargs") or {}
    first = args[0] if args else kwargs.get("image_id") or kwargs.get("key")
    fields: dict[str, Any] = {
        "request_id": task_request_id(task) or logs.request_id_from(None),
        "task": getattr(task, "name", None),
    }
    if isinstance(first, str):
        fields["image_id"] = image_id_from_key(first)
    if task_id:
        _tokens[task_id] = logs.bind(**fields)


@task_postrun.connect
def _unbind(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id or "", None)
    if token is not None:
        logs.restore(token)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _format(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None:
        logs.reformat(logger, current())
