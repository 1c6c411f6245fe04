"""The README keeps up with the code: every CLI command and every Procfile process is named.

(The configuration table is checked against app/settings.py by
tests/app/test_settings.py::test_readme_and_env_example_name_every_variable.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from app.ops.supervise import read_procfile

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def cli_commands() -> set[str]:
    """Every `imagepipe` subcommand: the names given to add_parser in app/cli.py."""
    tree = ast.parse((ROOT / "app" / "cli.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_parser"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def supervised(text: str) -> list[set[str]]:
    """The process lists of every `python -m app.ops.supervise NAME...` command in ``text``."""
    return [set(m.split()) for m in re.findall(r"-m app\.ops\.supervise ((?:[\w-]+ ?)+)", text)]


def test_the_cli_has_commands_to_check() -> None:
    assert {"token", "upload", "process", "provision", "worker-health"} <= cli_commands()


def test_the_readme_shows_every_cli_command() -> None:
    missing = {c for c in cli_commands() if not re.search(rf"imagepipe {re.escape(c)}\b", README)}
    assert missing == set()


def test_the_readme_runs_every_procfile_process_on_aws() -> None:
    processes = set(read_procfile(ROOT / "Procfile"))
    assert supervised(README) == [processes]  # the AWS line: every process, ingest included


def test_make_run_starts_only_procfile_processes() -> None:
    processes = set(read_procfile(ROOT / "Procfile"))
    (embedded,) = supervised((ROOT / "Makefile").read_text())
    assert embedded == processes - {"ingest"}  # embedded uploads need no S3-event ingest
