"""Log lines for the API and the worker: readable text by default, JSON lines by setting.

Every line carries the fields bound for the work in hand (``request_id``, ``image_id``, a hashed
``user_id``, ``task``) and those a caller passes with ``extra=`` (``step``, ``duration_ms``), so
``grep <request_id>`` or ``grep <image_id>`` follows an image from its upload to ``ready``.

Nothing here sees a raw user ID: callers bind ``hashed_user(...)``, a keyed hash that only the
holder of the secret key can link to a user. Messages name routes, never raw paths or query
strings, so no signed URL reaches a log.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import IO, Any, ParamSpec, TypeVar

from app.keys import derive_key
from app.settings import Settings
from app.timestamps import iso_utc

# The fields a line may carry, in the order a JSON line lists them.
FIELDS = ("request_id", "image_id", "user_id", "task", "step", "format", "duration_ms")
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
_NOTHING: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("imagepipe_log_context", default=_NOTHING)
_MARK = "_imagepipe_handler"
P = ParamSpec("P")
R = TypeVar("R")


def hashed_user(secret_key: str, user_id: str) -> str:
    """A keyed hash of a user ID: stable across lines and processes, useless without the key."""
    key = derive_key(secret_key, "imagepipe/log-user/v1")
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:16]


def request_id_from(raw: str | None) -> str:
    """An inbound X-Request-ID if it is sane (8-64 of [A-Za-z0-9._:-]), else a new one."""
    if raw and _SANE_REQUEST_ID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


def context() -> Mapping[str, Any]:
    return _context.get()


def current_request_id() -> str | None:
    value = _context.get().get("request_id")
    return value if isinstance(value, str) else None


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add fields to every line logged from here on in this thread (or task); see `restore`."""
    return _context.set({**_context.get(), **fields})


def restore(token: Token[Mapping[str, Any]]) -> None:
    """Back to the fields bound before `bind` returned this token."""
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        restore(token)


def scoped(function: Callable[P, R]) -> Callable[P, R]:
    """Whatever `function` binds is unbound when it returns."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with bound():
            return function(*args, **kwargs)

    return call


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The bound fields, overridden by those the call passed with extra=."""
    values = dict(_context.get())
    for name in FIELDS:
        if name in record.__dict__:
            values[name] = record.__dict__[name]
    return {name: values[name] for name in FIELDS if values.get(name) not in (None, "")}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the bound fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_utc(record.created, "milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= _fields(record)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """What a person reads in a terminal: the usual line, then the bound fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if not fields:
            return text
        head, sep, tail = text.partition("\n")  # a traceback stays below the fields
        return f"{head} [{' '.join(f'{k}={v}' for k, v in fields.items())}]{sep}{tail}"


def log_format(settings: Settings) -> str:
    """IMAGEPIPE_LOG_FORMAT, or by default text when embedded and JSON on AWS."""
    return settings.log_format or ("text" if settings.embedded else "json")


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if log_format(settings) == "json" else TextFormatter()


def configure(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger, at INFO, in the chosen format (again: replaced)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter_for(settings))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def reformat(logger: logging.Logger, settings: Settings) -> None:
    """Put our formatter on a logger's existing handlers (Celery's, which it set up itself)."""
    for handler in logger.handlers:
        handler.setFormatter(formatter_for(settings))
