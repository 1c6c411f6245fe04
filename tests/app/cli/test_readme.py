"""Every `imagepipe` command has its line in the README."""

from __future__ import annotations

import re

import pytest

from app import cli
from tests.conftest import ROOT


def test_every_command_is_in_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = re.search(r"\{([a-z,-]+)\}", capsys.readouterr().out)
    assert listed is not None
    commands = listed.group(1).split(",")
    assert {"reprocess", "reconcile", "stats", "erase-user"} <= set(commands)
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in commands if not re.search(rf"imagepipe (--env \S+ )?{c}\b", readme)]
    assert missing == []
