"""Every route x every kind of caller. This table is docs/security.md's matrix (checked below).

Owner and admin: allowed. Another user: 404 for an image (its existence is not revealed),
403 for a user's list, export or erasure. Anyone without a valid token: 401.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.services import Services
from app.settings import Settings
from tests.app.auth.principals import OWNER, UNAUTHENTICATED
from tests.app.auth.principals import headers as principal
from tests.app.erasure_fixtures import stored_image

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"
IMAGE = "a1"

# route -> (method, path, JSON body or None, {caller: status}); "anonymous" = every kind of
# caller in UNAUTHENTICATED.
MATRIX: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "POST /upload": (
        "post",
        "/upload",
        {"filename": "a.jpg", "content_type": "image/jpeg", "size": 100},
        {"owner": 201, "other_user": 201, "admin": 201, "anonymous": 401},
    ),
    "GET /image/{id}": (
        "get",
        f"/image/{IMAGE}",
        None,
        {"owner": 200, "other_user": 404, "admin": 200, "anonymous": 401},
    ),
    "GET /images?user_id={user}": (
        "get",
        f"/images?user_id={OWNER}",
        None,
        {"owner": 200, "other_user": 403, "admin": 200, "anonymous": 401},
    ),
    "DELETE /image/{id}": (
        "delete",
        f"/image/{IMAGE}",
        None,
        {"owner": 200, "other_user": 404, "admin": 200, "anonymous": 401},
    ),
    "GET /users/{user}/export": (
        "get",
        f"/users/{OWNER}/export",
        None,
        {"owner": 200, "other_user": 403, "admin": 200, "anonymous": 401},
    ),
    "DELETE /users/{user}": (
        "delete",
        f"/users/{OWNER}",
        None,
        {"owner": 200, "other_user": 403, "admin": 200, "anonymous": 401},
    ),
}
CALLERS = ("owner", "other_user", "admin", *UNAUTHENTICATED)


def _expected(route: str, who: str) -> int:
    table = MATRIX[route][3]
    return table[who] if who in table else table["anonymous"]


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("route", list(MATRIX))
def test_route_answers_each_caller_as_the_matrix_says(
    client: FlaskClient, services: Services, settings: Settings, route: str, who: str
) -> None:
    stored_image(services, IMAGE, OWNER)
    method, path, body, _ = MATRIX[route]
    response = getattr(client, method)(path, json=body, headers=principal(settings, who))
    assert response.status_code == _expected(route, who), response.get_json()
    if response.status_code >= 400:
        assert response.get_json()["error"]["code"]
    if response.status_code in (401, 403, 404):
        # Nothing of alice's was touched by a refused call.
        assert services.catalog.get(IMAGE).user_id == OWNER
        assert services.originals.exists(IMAGE)


@pytest.mark.parametrize("who", ["other_user", *UNAUTHENTICATED])
def test_refused_and_missing_images_look_the_same(
    client: FlaskClient, services: Services, settings: Settings, who: str
) -> None:
    stored_image(services, IMAGE, OWNER)
    theirs = client.get(f"/image/{IMAGE}", headers=principal(settings, who))
    missing = client.get("/image/no-such-image", headers=principal(settings, who))
    assert theirs.status_code == missing.status_code
    assert theirs.get_json()["error"]["code"] == missing.get_json()["error"]["code"]


def test_an_admin_lists_and_reads_another_users_images(
    client: FlaskClient, services: Services, settings: Settings
) -> None:
    stored_image(services, IMAGE, OWNER)
    listed = client.get(f"/images?user_id={OWNER}", headers=principal(settings, "admin"))
    assert [i["image_id"] for i in listed.get_json()["images"]] == [IMAGE]
    # Without user_id, an admin lists their own (none), not everyone's.
    own = client.get("/images", headers=principal(settings, "admin")).get_json()
    assert own["images"] == []


def test_the_documented_matrix_is_the_tested_one() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.match(r"^(GET|POST|DELETE) /", cells[0]):
            rows[cells[0]] = {
                "owner": int(cells[1]),
                "other_user": int(cells[2]),
                "admin": int(cells[3]),
                "anonymous": int(cells[4]),
            }
    assert rows == {route: spec[3] for route, spec in MATRIX.items()}
