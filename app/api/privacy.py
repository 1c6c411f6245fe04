"""The data subject's rights: erase an image, erase a user, export a user's data.

* ``DELETE /image/{id}``: the original, every variant, working files and the record (art. 17).
* ``DELETE /users/{user_id}``: the same for each of the user's images; idempotent, resumable.
* ``GET /users/{user_id}/export``: every record and a short-lived link to each original (art. 15).

The owner or an admin may call each; another user gets 404 for an image (its existence is
not revealed) and 403 for a user. Erasures answer with a receipt, also kept in the audit log.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint

from app.api.context import identity, original_link, owned_record, platform
from app.api.errors import ApiError
from app.api.operations import Reply, operation
from app.api.responses import ErasureReceipt, UserExport
from app.api.schemas import UserId
from app.api.serializers import image_view, iso
from app.auth.tokens import Identity, InvalidUserId, check_user_id
from app.erasure import Receipt, erase_image, erase_user, user_images

blueprint = Blueprint("privacy", __name__)


@blueprint.delete("/image/<image_id>")
@operation(
    "Erase an image",
    tag="privacy",
    ok={200: Reply("the erasure's receipt, also in the audit log", ErasureReceipt)},
    errors=(404,),
)
def delete_image(image_id: str) -> dict[str, Any]:
    """The original, every variant, working files and the record (and, on AWS, the CDN's
    copies). 404 for another user's image."""
    p = platform()
    record = owned_record(image_id, identity())
    return _recorded(erase_image(p.services, record, p.cdn))


@blueprint.delete("/users/<user_id>")
@operation(
    "Erase a user's data",
    tag="privacy",
    path={"user_id": UserId},
    ok={200: Reply("the erasure's receipt, also in the audit log", ErasureReceipt)},
    errors=(400, 403),
)
def delete_user(user_id: str) -> dict[str, Any]:
    """Every image of the user; idempotent and resumable. Owner or admin; 403 otherwise."""
    _may_act_for(identity(), user_id)
    p = platform()
    return _recorded(erase_user(p.services, user_id, p.cdn))


@blueprint.get("/users/<user_id>/export")
@operation(
    "Export a user's data",
    tag="privacy",
    path={"user_id": UserId},
    ok={200: Reply("every record, each with a short-lived link to its original", UserExport)},
    errors=(400, 403),
)
def export_user(user_id: str) -> dict[str, Any]:
    """The right of access. Owner or admin; 403 otherwise."""
    _may_act_for(identity(), user_id)
    p = platform()
    images = [
        image_view(record, p.services, original_link(record))
        for record in user_images(p.services, user_id)
    ]
    return {
        "user_id": user_id,
        "exported_at": iso(time.time()),
        "links_expire_in_seconds": p.services.settings.original_link_ttl_seconds,
        "images": images,
    }


def _may_act_for(who: Identity, user_id: str) -> None:
    try:
        check_user_id(user_id)
    except InvalidUserId as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    if not who.may_act_for(user_id):
        raise ApiError(403, "forbidden", "you can act only on your own data")


def _recorded(receipt: Receipt) -> dict[str, Any]:
    body = receipt.to_dict() | {"time": iso(receipt.time)}
    platform().audit.append(body)
    return body
