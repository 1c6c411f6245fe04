"""gunicorn's access log without secrets.

Use it with ``gunicorn --logger-class app.api.access_log.RedactingLogger``.

gunicorn logs the raw request line, so every signed delivery URL (``?exp=..&kid=..&sig=..`` or
CloudFront's ``Policy``/``Signature``), valid for an hour, ended up in the log. This logger
keeps each line's shape but drops query strings everywhere they appear (request line, Referer,
Location, Content-Location) and never offers credentials (Authorization, Cookie) to the format.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from app.logs import JsonFormatter, log_format
from app.settings import current

REDACTED = "-"
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


def without_query(value: str) -> str:
    """``value`` with any ``?query`` (and ``#fragment``) cut off; '-' stays '-'."""
    return value.split("?", 1)[0].split("#", 1)[0]


def redact_atoms(atoms: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's log atoms with every query string and credential removed."""
    clean: dict[str, Any] = {}
    for key, value in atoms.items():
        name = key[1:-2] if key.startswith("{") and key[-2:] in ("}i", "}o", "}e") else ""
        if name in _SECRET_HEADERS or name.startswith("x-amz-"):
            continue
        clean[key] = without_query(value) if isinstance(value, str) else value
    clean["q"] = REDACTED
    request_line = atoms.get("r")
    if isinstance(request_line, str):  # "GET /path?query HTTP/1.1"
        words = request_line.split(" ")
        clean["r"] = " ".join(without_query(w) if "?" in w else w for w in words)
    return clean


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # With JSON logs (IMAGEPIPE_LOG_FORMAT, docs/operations.md), gunicorn's own lines are
        # JSON too, so a log store parses every line of the web process alike.
        if log_format(current()) == "json":
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    if getattr(handler, "_gunicorn", False):  # gunicorn's own, not another's
                        handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        return redact_atoms(super().atoms(resp, req, environ, request_time))
