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
        # Quality measures are for tests and benchmarks; the runtime never measures.
        ("app", {"quality"}),
        ("tasks", {"quality"}),
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


def test_app_takes_shared_names_from_edge_variants_not_from_the_viewer_request_handler() -> None:
    # (The embedded delivery route does share origin_response's behaviour on purpose: the
    # same headers and fallbacks as the CDN.)
    bad = [(str(p.relative_to(ROOT)), m) for p, m in imports("app") if m == "edge.viewer_request"]
    assert bad == []


@pytest.mark.parametrize("folder", ["app/api", "app/imaging", "tasks"])
def test_the_api_and_the_worker_never_import_the_operations_tools(folder: str) -> None:
    bad = [(str(p.relative_to(ROOT)), m) for p, m in imports(folder) if m.startswith("app.ops")]
    assert bad == []


def test_boto3_lives_only_in_aws_adapters() -> None:
    users = {str(p.relative_to(ROOT)) for p, m in imports("app") if top(m) in ("boto3", "botocore")}
    assert all(("s3" in u or "dynamodb" in u or "aws" in u) for u in users), users


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folders: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of ``folders`` it imports, at the top or inside a function."""
    paths = {module_name(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph(("app", "tasks", "edge"))) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]
