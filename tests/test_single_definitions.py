"""Values and helpers that must be defined once: a second copy drifts from the first.

Checked on the source (app/, tasks/, edge/): the immutable Cache-Control value, the ISO 8601
writer, and the derivation of keys from IMAGEPIPE_SECRET_KEY each live in one module; every
other module imports them. (The content-type table is app/imaging/formats.py's.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("app", "tasks", "edge")


def modules() -> Iterator[tuple[str, ast.Module]]:
    for folder in RUNTIME:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))


def strings_containing(text: str) -> set[str]:
    return {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and text in node.value
    }


def calls_to(attribute: str) -> set[str]:
    """Modules that call ``<anything>.attribute(...)``."""
    return {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
    }


def test_the_immutable_cache_control_value_is_written_once() -> None:
    assert strings_containing("max-age=31536000") == {"edge/variants.py"}


def test_iso_times_are_written_by_one_helper() -> None:
    assert calls_to("isoformat") == {"app/timestamps.py"}
    assert strings_containing("%Y-%m-%dT") == set()


def test_keys_are_derived_from_the_secret_in_one_place() -> None:
    # HKDF lives in app/keys.py; anything else hashing the secret is a second derivation.
    assert {n for n, t in modules() if "HKDF" in ast.dump(t)} == {"app/keys.py"}
    hashing = ("new", "sha256", "digest", "pbkdf2_hmac")
    hashed_secret = {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in hashing
        and "secret" in " ".join(ast.dump(arg) for arg in node.args).lower()
    }
    assert hashed_secret == set()
