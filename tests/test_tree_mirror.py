"""Tests mirror the tree: the test of `app/x/y.py` is `tests/app/x/test_y.py`, not `tests/app/`.

Checked one way: a test named after a module that lives deeper than the test's folder belongs
in that module's folder. (A test elsewhere that shares a name, such as the imaging privacy tests
beside app/api/privacy.py, is about another subject and is left alone.)
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "tasks", "edge", "quality")


def test_a_test_named_after_a_deeper_module_sits_in_that_modules_folder() -> None:
    modules: dict[str, set[Path]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            modules.setdefault(path.stem, set()).add(path.parent.relative_to(ROOT))
    misplaced = {}
    for test in (ROOT / "tests").rglob("test_*.py"):
        where = test.parent.relative_to(ROOT / "tests")
        folders = modules.get(test.stem.removeprefix("test_"), set())
        deeper = [f for f in folders if f != where and f.is_relative_to(where)]
        if len(folders) == 1 and deeper:
            misplaced[str(test.relative_to(ROOT))] = str(deeper[0])
    assert misplaced == {}
