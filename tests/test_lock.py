"""requirements.lock (what `make` and CI install) satisfies pyproject.toml: else run `make lock`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.M)


def locked(path: Path) -> dict[str, set[str]]:
    """Package -> its locked versions (a universal lock may pin one per Python version)."""
    pins: dict[str, set[str]] = {}
    for name, version in PINNED.findall(path.read_text()):
        pins.setdefault(canonicalize_name(name), set()).add(version)
    return pins


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    requirements = [Requirement(spec) for spec in specs]
    return [r for r in requirements if canonicalize_name(r.name) != project["name"]]


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("requirements.lock", ("dev", "aws", "bench", "infra")),
        ("docker/requirements.lock", ("aws",)),
    ],
)
def test_the_lock_satisfies_every_declared_dependency(lock: str, extras: tuple[str, ...]) -> None:
    pins = locked(ROOT / lock)
    stale = [
        f"{requirement} (locked: {sorted(pins.get(canonicalize_name(requirement.name), ()))})"
        for requirement in declared(*extras)
        if not pins.get(canonicalize_name(requirement.name))
        or not all(
            requirement.specifier.contains(v) for v in pins[canonicalize_name(requirement.name)]
        )
    ]
    assert not stale, f"{lock} is stale for {stale}: run `make lock` and commit it"


def test_the_image_runs_the_versions_the_suite_tested() -> None:
    dev, image = locked(ROOT / "requirements.lock"), locked(ROOT / "docker" / "requirements.lock")
    differ = {
        name: (versions, dev.get(name))
        for name, versions in image.items()
        if not versions <= dev.get(name, set())
    }
    assert not differ, f"run `make lock`: {differ}"
