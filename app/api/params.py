"""Query and body parameters are parsed through tables: unknown names are a 400, never ignored."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from flask import request

from app.api.errors import ApiError

Parser = Callable[[Any], Any]


def parse(values: Mapping[str, Any], table: Mapping[str, tuple[Parser, bool]]) -> dict[str, Any]:
    """table: name -> (parser, required). Parsers raise ValueError with a sentence."""
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unknown parameter(s): {', '.join(unknown)}")
    parsed: dict[str, Any] = {}
    for name, (parser, required) in table.items():
        if name not in values or values[name] in (None, ""):
            if required:
                raise ApiError(400, "missing_parameter", f"{name} is required")
            continue
        try:
            parsed[name] = parser(values[name])
        except (ValueError, TypeError, OverflowError) as exc:
            raise ApiError(400, "invalid_parameter", f"{name}: {exc}") from None
    return parsed


def bounded_int(low: int, high: int) -> Parser:
    def parse_int(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError("must be a whole number")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValueError("must be a whole number")
        value = int(raw)
        if isinstance(raw, float) and raw != value:
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse_int


def text(max_length: int) -> Parser:
    def parse_text(raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError("must be a string")
        if len(raw) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return raw

    return parse_text


MAX_JSON_DEPTH = 32


def json_body() -> dict[str, Any] | None:
    """The request's JSON object (see json_object); the body limit applies before reading."""
    return json_object(request.get_data(cache=False))


def json_object(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any] | None:
    """A JSON object from a request body, or None when the body is not one.

    Parsed here rather than by Flask: a nesting deeper than ``max_depth`` is refused before
    the recursive parser sees it (100,000 ``[`` would raise RecursionError, a 500), and the
    non-standard constants ``NaN``/``Infinity`` are refused like any other invalid JSON.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _depth(text) > max_depth:
        raise ApiError(400, "invalid_json", f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings; stops counting past the limit."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH * 4:
                    break
        elif char in "]}":
            depth -= 1
    return deepest
