"""Query and body parameters are parsed through tables: unknown names are a 400, never ignored."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "invalid_parameter", f"{name}: {exc}") from None
    return parsed


def bounded_int(low: int, high: int) -> Parser:
    def parse_int(raw: Any) -> int:
        if isinstance(raw, bool):
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
