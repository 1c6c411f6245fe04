"""GET /image/{id} and GET /images: the caller's own records, and nobody else's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.api.context import identity, original_link, owned_record, platform
from app.api.errors import ApiError
from app.api.operations import Reply, operation
from app.api.params import request_query
from app.api.responses import ImagePage, ImageView
from app.api.schemas import ImageListQuery
from app.api.serializers import image_view
from app.catalog import InvalidCursor

blueprint = Blueprint("images", __name__)


@blueprint.get("/image/<image_id>")
@operation(
    "An image's record",
    tag="images",
    ok={200: Reply("the record, its variants and its responsive manifest", ImageView)},
    errors=(404,),
)
def get_image(image_id: str) -> dict[str, Any]:
    """Poll until `status` is `ready` (or `failed`, with a reason). Another user's image is 404,
    as an unknown one; an admin may read any. Every delivery URL is signed when images are
    private; `original_url` is the owner's download link, valid minutes."""
    p = platform()
    record = owned_record(image_id, identity())
    return image_view(record, p.services, original_link(record))


@blueprint.get("/images")
@operation(
    "A user's images, newest first",
    tag="images",
    query=ImageListQuery,
    ok={200: Reply("a page of records", ImagePage)},
    errors=(403,),
)
def list_images() -> dict[str, Any]:
    """403 for another user's list (an admin may list anyone's)."""
    who = identity()
    query = request_query(ImageListQuery)
    user_id = query.user_id or who.user_id
    if not who.may_act_for(user_id):
        raise ApiError(403, "forbidden", "you can list only your own images")
    p = platform()
    services = p.services
    try:
        page = services.catalog.list_by_user(user_id, limit=query.limit or 20, cursor=query.cursor)
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from None
    return {
        "images": [image_view(r, services, original_link(r)) for r in page.items],
        "next_cursor": page.next_cursor,
    }
