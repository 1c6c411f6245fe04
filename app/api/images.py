"""GET /image/{id} and GET /images: the caller's own records, and nobody else's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from app.api.context import identity, original_link, owned_record, platform
from app.api.errors import ApiError
from app.api.params import bounded_int, parse, text
from app.api.views import image_view
from app.catalog import InvalidCursor

blueprint = Blueprint("images", __name__)


@blueprint.get("/image/<image_id>")
def get_image(image_id: str) -> dict[str, Any]:
    p = platform()
    record = owned_record(image_id, identity())
    return image_view(record, p.services, original_link(record))


@blueprint.get("/images")
def list_images() -> dict[str, Any]:
    who = identity()
    query = parse(
        request.args,
        {
            "user_id": (text(128), False),
            "limit": (bounded_int(1, 100), False),
            "cursor": (text(2048), False),
        },
    )
    user_id = query.get("user_id", who.user_id)
    if not who.may_act_for(user_id):
        raise ApiError(403, "forbidden", "you can list only your own images")
    p = platform()
    services = p.services
    try:
        page = services.catalog.list_by_user(
            user_id, limit=query.get("limit", 20), cursor=query.get("cursor")
        )
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from None
    return {
        "images": [image_view(r, services, original_link(r)) for r in page.items],
        "next_cursor": page.next_cursor,
    }
