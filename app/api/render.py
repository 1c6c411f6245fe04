"""GET /render/{id}/{name}: CloudFront's failover origin for `/i/*` (docs/capacity.md, lever 4).

When the variants bucket answers 403/404 for a variant left to its first request, or for one
processing stored in its stage's pack (app/packs.py), CloudFront's origin group asks this route
instead (the same URI, under the origin path ``/render``). It reads a packed variant's range, or
makes the variant (app/rendering.py) and stores it in the bucket for the next miss, and answers
with the delivery headers the edge's origin-response would have added.

Only CloudFront may call it: the distribution sends ``X-Imagepipe-Render-Secret`` to this
origin (the stack's generated secret, also given to the API as IMAGEPIPE_RENDER_ORIGIN_SECRET),
compared in constant time. Without the secret configured the route does not exist (404), so an
embedded deployment, whose delivery route renders in place, exposes nothing here. A refused
call gets 404, the same as an absent route: nothing is learned about images.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request

from app.api.context import platform
from app.api.delivery import render_or_refuse, stand_in_response
from app.api.errors import ApiError
from app.api.operations import IMAGE_TYPES, Reply, operation
from app.api.schemas import VariantName
from app.names import RENDER_PATH, RENDER_SECRET_HEADER
from edge.origin_response import response_headers
from edge.variants import STAND_IN_HEADER, parse_name

blueprint = Blueprint("render", __name__)


@blueprint.get(f"{RENDER_PATH}/<image_id>/<name>")
@operation(
    "A variant made on its first request (CloudFront's failover origin only)",
    tag="delivery",
    auth=False,
    path={"name": VariantName},
    headers={RENDER_SECRET_HEADER: "the origin secret CloudFront adds; without it, 404"},
    ok={
        200: Reply(
            "the variant: read from its pack, or made and stored for the next miss; while the "
            "image processes, a stored one "
            "standing in for it (`X-Imagepipe-Stand-In`, `no-store`), nothing stored",
            None,
            media=IMAGE_TYPES,
            headers=(STAND_IN_HEADER,),
        )
    },
    errors=(404, 409, 503),
)
def render(image_id: str, name: str) -> Response:
    """Not for clients: CloudFront calls it when the variants bucket lacks `name`."""
    services = platform().services
    secret = services.settings.render_origin_secret
    given = request.headers.get(RENDER_SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.reveal().encode()):
        raise ApiError(404, "not_found", "no such route")
    variant = parse_name(name)
    if variant is None:
        raise ApiError(404, "not_found", f"{name!r} is not a variant name")
    made = render_or_refuse(services, image_id, name)
    if made.stand_in:  # the image is processing: a stored variant, no-store (app/stand_in.py)
        return stand_in_response(made)
    response = Response(made.data, status=200, headers=response_headers(variant))
    response.set_etag(made.etag)
    return response
