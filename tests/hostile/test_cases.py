"""The table of hostile cases is well formed: unique names, known makers, every maker used."""

from __future__ import annotations

import json

from app.imaging.errors import Reason
from tests import hostile_files
from tests.hostile.makers import MAKERS


def test_every_case_is_named_once_with_a_known_outcome() -> None:
    rows = hostile_files._rows()
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names))
    outcomes = {hostile_files.READY} | {reason.value for reason in Reason}
    assert {row["outcome"] for row in rows} <= outcomes
    assert {row["source"] for row in rows} == {"corpus", "made"}


def test_made_cases_name_a_maker_with_json_arguments_and_no_maker_is_unused() -> None:
    made = [row for row in hostile_files._rows() if row["source"] == "made"]
    for row in made:
        assert row["maker"] in MAKERS, row["name"]
        assert isinstance(json.loads(row["args"] or "[]"), list), row["name"]
    assert {row["maker"] for row in made} == set(MAKERS)
