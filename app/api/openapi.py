"""GET /openapi.json (OpenAPI 3.1) and GET /docs, generated from the routes' @operation.

The document is built from the app's URL map, so every route is in it as Flask serves it,
and from the pydantic models the views validate with (app/api/schemas.py) and answer with
(app/api/responses.py). /docs is a small page of our own (app/api/apidocs/): no inline
script and nothing from another origin, so it works under the page's strict CSP and offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, send_from_directory
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from app.api.operations import Operation, Reply, operation_for

DOCS_ROOT = Path(__file__).resolve().parent / "apidocs"
_CACHE = "imagepipe_openapi"
_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_REF = "#/components/schemas/{model}"

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
def document() -> Response:
    if _CACHE not in current_app.extensions:
        current_app.extensions[_CACHE] = build_document(current_app)
    return jsonify(current_app.extensions[_CACHE])


@blueprint.get("/docs")
def docs_page() -> Response:
    return send_from_directory(DOCS_ROOT, "index.html", max_age=0)


@blueprint.get("/docs/<name>")
def docs_asset(name: str) -> Response:
    return send_from_directory(DOCS_ROOT, name, max_age=0)


def build_document(app: Flask) -> dict[str, Any]:
    routes = list(_documented(app))
    refs, components = _components(routes)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in routes:
        paths.setdefault(path, {})[method] = _operation(op, path, method, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "imagepipe",
            "version": "1",
            "description": "Upload, process and deliver images. Errors are JSON: "
            '`{"error": {"code": "...", "message": "..."}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`imagepipe token USER_ID` in embedded mode; Cognito on AWS",
                }
            },
        },
    }


def _documented(app: Flask) -> Iterator[tuple[str, str, Operation]]:
    """(OpenAPI path, method, operation) for each route whose view declared one."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = operation_for(app.view_functions[rule.endpoint])
        if op is None:
            continue
        path = _PARAMETER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield path, method.lower(), op


def _components(
    routes: list[tuple[str, str, Operation]],
) -> tuple[dict[type[BaseModel], Any], dict[str, Any]]:
    models: dict[type[BaseModel], None] = {}
    for _path, _method, op in routes:
        if op.body is not None:
            models[op.body] = None
        for reply in op.responses.values():
            if reply.model is not None:
                models[reply.model] = None
    keys, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=_REF, by_alias=True
    )
    refs = {model: keys[(model, "validation")] for model in models}
    return refs, top.get("$defs", {})


def _operation(
    op: Operation, path: str, method: str, refs: dict[type[BaseModel], Any]
) -> dict[str, Any]:
    endpoint = path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    doc: dict[str, Any] = {
        "operationId": f"{method}_{endpoint or 'root'}",
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"bearer": []}] if op.auth else [],
        "parameters": _parameters(op, path),
        "responses": {
            str(status): _response(reply, refs) for status, reply in sorted(op.responses.items())
        },
    }
    if op.description:
        doc["description"] = op.description
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {op.body_media: {"schema": refs[op.body]}},
        }
    return doc


def _parameters(op: Operation, path: str) -> list[dict[str, Any]]:
    params = []
    for name in re.findall(r"{([^}]+)}", path):
        kind = op.path.get(name)
        schema: dict[str, Any] = {"type": "string"}
        if kind is not None:
            schema = TypeAdapter(kind).json_schema()
        params.append(_parameter(name, "path", True, schema))
    if op.query is not None:
        query = op.query.model_json_schema()
        required = set(query.get("required", []))
        for name, prop in query["properties"].items():
            params.append(_parameter(name, "query", name in required, prop))
    for name, description in op.headers.items():
        params.append(_parameter(name, "header", False, {"type": "string"}, description))
    return params


def _parameter(
    name: str, where: str, required: bool, schema: dict[str, Any], description: str = ""
) -> dict[str, Any]:
    schema = _without_null(schema)
    description = schema.pop("description", description)
    schema.pop("title", None)
    schema.pop("default", None)
    param: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is absent, never null: ``X | None`` documents as ``X``."""
    options = schema.get("anyOf")
    if options is None:
        return dict(schema)
    kept = [s for s in options if s.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _response(reply: Reply, refs: dict[type[BaseModel], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": reply.description}
    if reply.media:
        binary = {"type": "string", "format": "binary"}
        schema = refs[reply.model] if reply.model is not None else binary
        doc["content"] = {media: {"schema": schema} for media in reply.media}
    if reply.headers:
        doc["headers"] = {name: {"schema": {"type": "string"}} for name in reply.headers}
    return doc
