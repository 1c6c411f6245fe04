"""The arrows that must never exist (../shared/DESIGN.md), checked on the import graph."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(folder: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("app/imaging", {"flask", "celery", "boto3", "botocore", "sqlite3", "kombu", "werkzeug"}),
        ("app", {"tasks"}),
        ("infra", {"app", "tasks"}),
    ],
)
def test_forbidden_imports(folder: str, forbidden: set[str]) -> None:
    bad = [(str(p.relative_to(ROOT)), m) for p, m in imports(folder) if top(m) in forbidden]
    assert bad == []


def test_edge_uses_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"edge", "__future__"}
    bad = [(str(p.relative_to(ROOT)), m) for p, m in imports("edge") if top(m) not in allowed]
    assert bad == []


def test_boto3_lives_only_in_aws_adapters() -> None:
    users = {str(p.relative_to(ROOT)) for p, m in imports("app") if top(m) in ("boto3", "botocore")}
    assert all(("s3" in u or "dynamodb" in u or "aws" in u) for u in users), users
