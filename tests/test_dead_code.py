"""No dead code in the runtime packages: every public function and class has a caller.

A top-level function or class of app/, tasks/ or edge/ must be referenced (by name, attribute or
import) from code that ships or measures (app/, tasks/, edge/, bench/, infra/, scripts/,
celeryconfig.py) or be named in the Procfile or Dockerfile (gunicorn's logger class). Tests do not
count: code kept only for its tests is dead. Decorated definitions (routes, tasks, signal
handlers) are called by their framework and are left out.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("app", "tasks", "edge")
CALLERS = (*RUNTIME, "bench", "infra", "scripts")

# Kept for tests, on purpose (each is the other half of something the runtime does):
ALLOWED = {
    # ThumbHash's decoder: tests check the placeholders the encoder writes by decoding them.
    ("app/imaging/thumbhash.py", "average_rgba"),
    # The contract's full list of variant names: edge tests walk every name.
    # The canned form CloudFront accepts and verify() checks; it proves our RSA-SHA1 signing
    # matches botocore's byte for byte.
    ("app/delivery/cloudfront.py", "canned_url"),
    # One of the AWS client factories (S3, SQS, SNS, DynamoDB) the adapters and tests share.
    ("app/aws.py", "sns_client"),
    # Steps 1 and 2 of the probe on bytes held in memory (docs/robustness.md).
    ("app/imaging/probe.py", "probe_bytes"),
    # gunicorn's server hooks, called by name (Procfile: --config python:app.api.gunicorn_conf).
    ("app/api/gunicorn_conf.py", "on_starting"),
    ("app/api/gunicorn_conf.py", "child_exit"),
    # Every variable a setting reads: the README and .env.example checks walk it.
    ("app/settings.py", "variables"),
}


def trees() -> dict[str, ast.Module]:
    paths = [p for folder in CALLERS for p in (ROOT / folder).rglob("*.py")]
    paths.append(ROOT / "celeryconfig.py")
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text(), str(p)) for p in sorted(paths)}


def references(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
    return names


def test_every_public_function_and_class_has_a_caller_outside_the_tests() -> None:
    parsed = trees()
    used = set().union(*(references(tree) for tree in parsed.values()))
    for launcher in ("Procfile", "Dockerfile"):
        used.update(re.findall(r"\w+", (ROOT / launcher).read_text()))
    unused = {
        (name, node.name)
        for name, tree in parsed.items()
        if name.split("/", 1)[0] in RUNTIME
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
        and not node.decorator_list
        and node.name not in used
    }
    assert unused == ALLOWED
