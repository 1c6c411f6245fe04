"""The route registry: each view declares its operation (models and answers) next to its route.

``@operation(...)`` records what app/api/openapi.py turns into /openapi.json; the request models
it names are the ones ``request_body``/``request_query`` validate with (params.py checks that
a view validates with the model it declared), so the document cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from app.api.responses import ErrorBody

View = TypeVar("View", bound=Callable[..., Any])

JSON = "application/json"
IMAGE_TYPES = ("image/avif", "image/webp", "image/jpeg")

# Every error answer has the one JSON shape of app/api/errors.py.
ERRORS: Mapping[int, str] = {
    400: "invalid request: `unknown_parameter`, `missing_parameter`, `invalid_parameter` "
    "(with a sentence) or `invalid_json` (not a JSON object, or nested too deep)",
    401: "no bearer token, or one that is invalid or expired",
    403: "not allowed: another user's data, or a bad signature",
    404: "no such image, or another user's (existence is not revealed)",
    405: "the route does not take this method",
    409: "already done: the upload form was used, or the image uploaded; for a variant made "
    "on first request, the image has nothing stored yet to serve (`not_ready`) or failed "
    "(`failed`)",
    413: "too large: over the upload limit, the storage quota or the body limit",
    415: "an unsupported image type",
    429: "too many requests: the rate, the daily quota or failed sign-ins; see Retry-After",
    503: "a backend is unavailable or the queue is full; see Retry-After where given",
}


@dataclass(frozen=True)
class Reply:
    description: str
    model: type[BaseModel] | None = None
    media: tuple[str, ...] = (JSON,)
    headers: tuple[str, ...] = ()  # response headers worth documenting


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: Mapping[int, Reply]
    description: str = ""
    body: type[BaseModel] | None = None
    body_media: str = JSON
    query: type[BaseModel] | None = None
    auth: bool = True
    path: Mapping[str, Any] = field(default_factory=dict)  # path parameter -> annotated type
    headers: Mapping[str, str] = field(default_factory=dict)  # request header -> description


_REGISTRY: dict[str, Operation] = {}


def _key(view: Callable[..., Any]) -> str:
    # functools.wraps keeps both, so a view wrapped by the rate limiter is still found.
    return f"{view.__module__}.{view.__qualname__}"


def operation(
    summary: str,
    *,
    tag: str,
    ok: Mapping[int, Reply],
    errors: Iterable[int] = (),
    body: type[BaseModel] | None = None,
    body_media: str = JSON,
    query: type[BaseModel] | None = None,
    auth: bool = True,
    path: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Callable[[View], View]:
    """Declare a view's operation; a bearer-token route also answers 401, 429 and 503."""
    statuses = set(errors) | ({401, 429, 503} if auth else set())
    if body is not None:
        statuses |= {400, 413}
    if query is not None:
        statuses.add(400)
    responses = dict(ok) | {
        status: Reply(ERRORS[status], ErrorBody, headers=_retry(status))
        for status in sorted(statuses)
    }

    def register(view: View) -> View:
        _REGISTRY[_key(view)] = Operation(
            summary=summary,
            tag=tag,
            responses=responses,
            description=(view.__doc__ or "").strip(),
            body=body,
            body_media=body_media,
            query=query,
            auth=auth,
            path=path or {},
            headers=headers or {},
        )
        return view

    return register


def _retry(status: int) -> tuple[str, ...]:
    return ("Retry-After",) if status in (429, 503) else ()


def operation_for(view: Callable[..., Any]) -> Operation | None:
    return _REGISTRY.get(_key(view))
