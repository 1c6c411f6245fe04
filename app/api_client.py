"""The platform's API over HTTP for `imagepipe upload` (app/client.py): JSON calls with the bearer
token, and the one retry rule for every request a client sends.

Network errors and 5xx answers are retried with jittered exponential backoff (a 429 with
Retry-After too); a 4xx is an answer about the request and is not. Only the standard library
speaks HTTP here, so the client needs nothing the platform lacks.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

T = TypeVar("T")

RETRIES: Final = 5


class ClientError(Exception):
    """The whole run cannot go on (API unreachable, token refused): a message for people."""


class Transient(Exception):
    """No answer, or a 5xx: worth another try."""


class Refused(Exception):
    """A 4xx answer about this request; retrying would get the same."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code


def backoff(attempt: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds before retry number attempt+1: 0.5 s doubling to at most 8 s, jittered to 50-100%."""
    base = min(8.0, 0.5 * 2.0**attempt)
    return float(base / 2 + rng() * base / 2)


def with_retries(
    send: Callable[[int], T],
    *,
    retries: int = RETRIES,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, Exception], None] | None = None,
) -> T:
    """send(attempt), again after a backoff while it raises Transient; Refused goes through."""
    for attempt in range(retries + 1):
        try:
            return send(attempt)
        except Transient as exc:
            if attempt >= retries:
                raise
            delay = backoff(attempt)
            if on_retry is not None:
                on_retry(attempt + 1, delay, exc)
            sleep(delay)
    raise AssertionError("unreachable")


Opener = Callable[[urllib.request.Request, float], Any]


def _urlopen(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) URLs from the API)


@dataclass
class Api:
    base: str
    token: str
    timeout: float = 60.0
    retries: int = RETRIES
    sleep: Callable[[float], None] = time.sleep
    opener: Opener = field(default=_urlopen)

    def url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else f"{self.base.rstrip('/')}{path_or_url}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON call with the bearer token, retried on network errors and 5xx."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"

        def once(_attempt: int) -> Any:
            request = urllib.request.Request(  # noqa: S310
                self.url(path), data=data, headers=headers, method=method
            )
            _status, payload = self.send(request)
            return json.loads(payload) if payload else None

        try:
            return with_retries(once, retries=self.retries, sleep=self.sleep)
        except Transient as exc:
            raise ClientError(f"cannot reach the API at {self.base}: {exc}") from None
        except Refused as exc:
            if exc.status == 401:
                raise ClientError(f"the API refused the token: {exc}") from None
            raise

    def send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        """(status, body) for a 2xx; Transient or Refused otherwise."""
        try:
            with self.opener(request, self.timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            if exc.code >= 500 or (exc.code == 429 and exc.headers.get("Retry-After")):
                raise Transient(f"{exc.code} {_message(payload) or exc.reason}") from None
            code, message = error_of(payload, exc)
            raise Refused(exc.code, code, message) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            reason = getattr(exc, "reason", exc)
            raise Transient(str(reason)) from None


def error_of(payload: bytes, exc: urllib.error.HTTPError) -> tuple[str, str]:
    try:
        error = json.loads(payload)["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "error", str(exc.reason)


def _message(payload: bytes) -> str:
    try:
        return str(json.loads(payload)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""
