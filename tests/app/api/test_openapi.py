"""/openapi.json is generated from the routes and the models that validate them; /docs shows it."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
import schemathesis
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from app import processing
from app.api.errors import register_error_handlers
from app.api.operations import Reply, operation
from app.api.params import request_body
from app.api.schemas import DevTokenRequest, UploadRequest
from app.services import Services
from app.uploads.policy import SIGNATURE_FIELD
from tests.app.test_processing import run_chain, upload
from tests.conftest import photo

Auth = Callable[..., dict[str, str]]
# Routes that are not the API: the upload page and this description itself.
NOT_API = {
    "webpage.index",
    "webpage.asset",
    "openapi.document",
    "openapi.docs_page",
    "openapi.docs_asset",
}
STATUSES = {"200", "201", "204", "302", "304", "400", "401", "403", "404", "409", "413", "415"}
STATUSES |= {"429", "503"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document: dict[str, Any] = response.get_json()
    return document


def test_every_route_is_documented(app: Flask, doc: dict[str, Any]) -> None:
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_API:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {rule.rule} is not in /openapi.json"
    assert ("/upload/receive", "POST") in documented
    assert ("/dev/token", "POST") in documented
    assert ("/health/live", "GET") in documented


def test_errors_security_and_statuses_are_described(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "`imagepipe token USER_ID` in embedded mode; Cognito on AWS",
    }
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            assert set(op["responses"]) <= STATUSES, where
            for status, response in op["responses"].items():
                if int(status) >= 400 and not (path.startswith("/health") and status == "503"):
                    assert response["content"]["application/json"]["schema"] == ERROR_REF, where
            if op["security"]:
                assert op["security"] == [{"bearer": []}], where
                assert {"401", "429", "503"} <= set(op["responses"]), where
    assert doc["paths"]["/images"]["get"]["security"] == [{"bearer": []}]
    assert doc["paths"]["/upload/receive"]["post"]["security"] == []


def test_request_bodies_are_the_models_that_validate_them(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    body = schemas["UploadRequest"]
    assert body["required"] == ["filename", "content_type", "size"]
    assert body["additionalProperties"] is False
    assert body["properties"]["size"]["minimum"] == 1
    upload = doc["paths"]["/upload"]["post"]["requestBody"]["content"]["application/json"]
    assert upload["schema"] == {"$ref": "#/components/schemas/UploadRequest"}
    form = doc["paths"]["/upload/receive"]["post"]["requestBody"]["content"]
    fields = schemas[form["multipart/form-data"]["schema"]["$ref"].split("/")[-1]]["properties"]
    assert {"key", "Content-Type", "policy", SIGNATURE_FIELD, "file"} <= set(fields)
    query = {p["name"]: p for p in doc["paths"]["/images"]["get"]["parameters"]}
    assert query["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert not query["limit"]["required"]
    user = {p["name"]: p for p in doc["paths"]["/users/{user_id}"]["delete"]["parameters"]}
    assert user["user_id"]["schema"]["pattern"] == "^[A-Za-z0-9_.@:-]{1,128}$"


def test_a_view_cannot_validate_with_a_model_it_does_not_document() -> None:
    blueprint = Blueprint("drift", __name__)

    @blueprint.post("/drift")
    @operation("drifts", tag="test", auth=False, body=UploadRequest, ok={200: Reply("ok")})
    def drift() -> dict[str, Any]:
        return {"user_id": request_body(DevTokenRequest, "{user_id}").user_id}

    app = Flask(__name__)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    app.testing = True
    with pytest.raises(RuntimeError, match="DevTokenRequest is not its documented body"):
        app.test_client().post("/drift", json={"user_id": "alice"})


def test_a_ready_image_and_its_erasure_match_the_response_schemas(
    app: Flask, client: FlaskClient, auth: Auth, services: Services
) -> None:
    """The fuzzer never sees a processed image (it cannot guess an ID): check one here."""
    image_id = upload(services, photo("skimage_coffee.png"), "alice")
    processing.claim(services, image_id)
    run_chain(services, image_id)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    calls = [
        ("GET", "/image/{image_id}", f"/image/{image_id}"),
        ("GET", "/images", "/images?limit=5"),
        ("GET", "/users/{user_id}/export", "/users/alice/export"),
        ("DELETE", "/image/{image_id}", f"/image/{image_id}"),
    ]
    for method, template, url in calls:
        response = client.open(url, method=method, headers=auth("alice"))
        assert response.status_code == 200, url
        schema[template][method].validate_response(response)
    record = client.get("/images", headers=auth("alice")).get_json()
    assert record == {"images": [], "next_cursor": None}


def test_the_schema_refuses_an_undocumented_field(app: Flask, client: FlaskClient) -> None:
    """The response models are closed: a field the views add must be documented first."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    response = client.get("/health/live")
    schema["/health/live"]["GET"].validate_response(response)
    response.set_data(b'{"status": "alive", "pid": 12}')
    with pytest.raises(Exception, match="pid"):
        schema["/health/live"]["GET"].validate_response(response)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.links += [v for name, v in attrs if name in ("src", "href", "data-spec") and v]
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def test_docs_page_loads_the_description_with_no_inline_script(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page = _Page()
    page.feed(response.get_data(as_text=True))
    assert page.scripts and all(script.get("src") for script in page.scripts)
    assert page.inline == [] and page.handlers == []
    assert "/openapi.json" in page.links
    # Everything from this origin: nothing to fetch from a CDN, so it works offline too.
    assert all(link.startswith(("/", "data:")) for link in page.links), page.links
    for asset in [link for link in page.links if link.startswith("/docs/")]:
        answer = client.get(asset)
        assert answer.status_code == 200, asset
    script = client.get("/docs/apidocs.js").get_data(as_text=True)
    assert "innerHTML" not in script and "eval(" not in script
