"""`imagepipe erase-user`: the API's erasure (DELETE /users/ID), its audit line, its receipt."""

from __future__ import annotations

import json

from app.audit import subject_digest
from tests.app.cli.conftest import Cli
from tests.app.erasure_fixtures import keys_of, stored_image
from tests.conftest import SECRET


def test_erases_every_image_of_the_user_and_prints_the_audited_receipt(run: Cli) -> None:
    svc = run.services
    mine = {stored_image(svc, f"a{n}", "alice", t=n) for n in range(3)}
    other = stored_image(svc, "b1", "bob")
    receipt = run.json("erase-user", "alice")
    assert receipt["scope"] == "user" and receipt["subject"] == "alice"
    assert set(receipt["images"]) == mine
    assert receipt["counts"] == {
        "images": 3,
        "originals": 3,
        "variants": 9,
        "work": 3,
        "records": 3,
    }
    assert receipt["time"].endswith("Z")
    assert keys_of(svc, mine) == []
    assert svc.catalog.list_by_user("alice", limit=10).items == []
    assert keys_of(svc, {other})  # another user's images are untouched
    (line,) = (run.tmp / "audit" / "erasures.jsonl").read_text().splitlines()
    audited = json.loads(line)
    assert audited["subject"] == "hmac-sha256:" + subject_digest(SECRET, "alice")
    assert audited["images"] == receipt["images"] and audited["via"] == "cli"


def test_an_unknown_or_invalid_user_is_a_clear_error(run: Cli) -> None:
    status, _, err = run("erase-user", "nobody")
    assert status == 1 and "user 'nobody' has no images" in err
    status, _, err = run("erase-user", "not a user id")
    assert status == 2 and "user ID" in err
    assert not (run.tmp / "audit" / "erasures.jsonl").exists()
