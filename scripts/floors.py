"""Print each declared dependency pinned to its floor (`name==floor`), for `make floors`.

Installing the project with these as constraints checks that every `>=floor` in pyproject.toml
is a version the code and the tests really work with, not just the one that installed today.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(?:>=|==)\s*([0-9][^,;\s]*)")


def floors(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    pins: dict[str, str] = {}
    for spec in specs:
        match = _FLOOR.match(spec)
        if match and match.group(1) != project["name"]:
            pins[match.group(1).lower()] = match.group(2)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


if __name__ == "__main__":
    print("\n".join(floors(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
