"""Query and body parameters are validated by pydantic models (app/api/schemas.py): unknown
names are a 400, never ignored, and the same models are the OpenAPI document's schemas.

The errors keep one shape: ``unknown_parameter`` (every unknown name), ``missing_parameter``
(absent, null or empty), ``invalid_parameter`` with the field and a sentence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from app.api.errors import ApiError
from app.api.operations import operation_for

Parser = Callable[[Any], Any]
Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: Mapping[str, Any]) -> Model:
    """``values`` as ``model``; ApiError 400 with the first problem, in field order."""
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise ApiError(400, "unknown_parameter", f"unknown parameter(s): {', '.join(unknown)}")
    # A null or empty value is an absent one: "required" is the clearer message for both.
    present = {k: v for k, v in values.items() if v is not None and not _empty(v)}
    try:
        return model.model_validate(present)
    except ValidationError as exc:
        raise _first_error(exc.errors()) from None


def _empty(value: Any) -> bool:
    return isinstance(value, str) and value == ""


def _first_error(errors: list[ErrorDetails]) -> ApiError:
    for error in errors:
        if error["type"] == "missing" and len(error["loc"]) == 1:
            return ApiError(400, "missing_parameter", f"{error['loc'][0]} is required")
        where = ".".join(str(part) for part in error["loc"])
        cause = error.get("ctx", {}).get("error")
        sentence = str(cause) if isinstance(cause, ValueError) else error["msg"]
        return ApiError(400, "invalid_parameter", f"{where}: {sentence}")
    return ApiError(400, "invalid_parameter", "the parameters are invalid")


def bounded_int(low: int, high: int) -> Parser:
    """A whole number (a JSON integer, a whole float, or decimal digits) in [low, high]."""

    def parse_int(raw: Any) -> int:
        # Only ValueError: pydantic turns it into a 400; anything else would be a 500.
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("must be a whole number")
        if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
            raise ValueError("must be a whole number")
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
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


def request_body(model: type[Model], shape: str) -> Model:
    """The request's JSON object as ``model``; ``shape`` names its fields in the 400's message."""
    _declared("body", model)
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", f"send a JSON object {shape}")
    return validated(model, body)


def request_query(model: type[Model]) -> Model:
    """The query string as ``model`` (a name given twice counts once, its first value)."""
    _declared("query", model)
    return validated(model, request.args.to_dict())


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


def _declared(part: str, model: type[BaseModel]) -> None:
    """The view validates with the model its @operation documents, or it is a bug."""
    view = current_app.view_functions[request.endpoint or ""]
    declared = operation_for(view)
    if declared is None or getattr(declared, part) is not model:
        raise RuntimeError(f"{request.endpoint}: {model.__name__} is not its documented {part}")
