"""The README's curl walk-through matches /openapi.json: each `curl ... $API/...` names an
operation that exists, sends only documented query parameters and body fields, every
required field, and a bearer token where the operation needs one."""

from __future__ import annotations

import itertools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

README = Path(__file__).resolve().parents[3] / "README.md"
_SHELL = re.compile(r"\$\([^)]*\)")  # $(...) inside a JSON body: a value, not a field


def walkthrough(readme: str) -> str:
    """The shell block under '### Walk-through with curl'."""
    section = readme.split("### Walk-through with curl", 1)[1]
    return section.split("```sh", 1)[1].split("```", 1)[0]


def curl_commands(script: str) -> list[list[str]]:
    joined = script.replace("\\\n", " ")
    commands = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("curl "):
            words = shlex.split(line, comments=True)
            commands.append(words[: words.index(">")] if ">" in words else words)
    return commands


def _operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            found: dict[str, Any] = item[method.lower()]
            return found
    return None


def _schema(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][ref["$ref"].split("/")[-1]]
    return schema


def check_command(doc: dict[str, Any], words: list[str]) -> list[str]:
    """What in this curl command the document does not allow (nothing: [])."""
    url = next(w for w in words if w.startswith("$API"))
    method, body, headers = "GET", None, []
    for flag, value in itertools.pairwise(words):
        if flag == "-X":
            method = value
        elif flag in ("-d", "--data"):
            method, body = ("POST" if method == "GET" else method), value
        elif flag == "-H":
            headers.append(value.lower())
    path, _, query = url.removeprefix("$API").partition("?")
    op = _operation(doc, path, method)
    if op is None:
        return [f"{method} {path} is not in /openapi.json"]
    problems = []
    if op["security"] and not any(h.startswith("authorization: bearer") for h in headers):
        problems.append(f"{method} {path} needs a bearer token")
    known = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    for name in [pair.partition("=")[0] for pair in query.split("&") if pair]:
        if name not in known:
            problems.append(f"{method} {path}: unknown query parameter {name!r}")
    if body is not None:
        schema = _schema(doc, op["requestBody"]["content"]["application/json"]["schema"])
        fields = json.loads(_SHELL.sub("1", body))
        problems += [
            f"{method} {path}: unknown body field {name!r}"
            for name in fields
            if name not in schema["properties"]
        ]
        problems += [
            f"{method} {path}: required body field {name!r} is missing"
            for name in schema.get("required", [])
            if name not in fields
        ]
    return problems


def check_walkthrough(readme: str, doc: dict[str, Any]) -> tuple[int, list[str]]:
    """(API commands checked, problems found)."""
    commands = [words for words in curl_commands(walkthrough(readme)) if "$API" in str(words)]
    return len(commands), [p for words in commands for p in check_command(doc, words)]


@pytest.fixture
def doc(client: FlaskClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").get_json()
    return document


def test_the_readme_walkthrough_matches_the_schema(doc: dict[str, Any]) -> None:
    checked, problems = check_walkthrough(README.read_text(), doc)
    assert checked >= 3  # upload, get, list: the check is never vacuous
    assert problems == []


@pytest.mark.parametrize(
    ("before", "after", "problem"),
    [
        ('\\"size\\"', '\\"length\\"', "unknown body field 'length'"),
        ('\\"filename\\": \\"photo.jpg\\", ', "", "required body field 'filename' is missing"),
        ("limit=10", "per_page=10", "unknown query parameter 'per_page'"),
        ("$API/images?", "$API/pictures?", "GET /pictures is not in /openapi.json"),
        ('"$API/images?user_id=alice&limit=10" -H "Authorization', '"$API/images" -H "X', "token"),
    ],
)
def test_a_readme_that_drifts_from_the_schema_is_caught(
    doc: dict[str, Any], before: str, after: str, problem: str
) -> None:
    readme = README.read_text()
    assert before in readme
    _checked, problems = check_walkthrough(readme.replace(before, after), doc)
    assert any(problem in p for p in problems), problems
