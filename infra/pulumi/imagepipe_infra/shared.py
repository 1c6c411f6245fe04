"""What infra shares with the application, loaded by path.

infra/ imports nothing from app/ or tasks/ (tests/test_layering.py): the names of buckets, queues,
the table and its indexes come from app/names.py (standard library only), executed here from its
file, and the Lambda@Edge bundle is edge/'s files. So a stack never depends on the app's
dependencies, and a name changed in app/names.py changes the adapters and the stack together.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
EDGE_DIR = REPO / "edge"


def _load(module_name: str, path: Path) -> ModuleType:
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


names = _load("imagepipe_names", REPO / "app" / "names.py")


def edge_files() -> dict[str, Path]:
    """The edge package's modules, by their path in the Lambda bundle (`edge/...`)."""
    return {f"edge/{path.name}": path for path in sorted(EDGE_DIR.glob("*.py"))}
