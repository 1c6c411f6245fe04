"""GET /original/{id}?exp=..&sig=..: the embedded mode's download link to an original.

The link comes from GET /image/{id} (its owner's, or an admin's) and expires in minutes. The
bytes are always a download, never rendered: an original is whatever the uploader sent.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.api.context import platform
from app.api.errors import ApiError
from app.api.operations import Reply, operation
from app.api.schemas import OriginalQuery
from app.catalog import RecordNotFound
from app.delivery.signing import InvalidSignature
from app.original_links import LocalOriginalLinks, download_name
from app.storage import BlobNotFound

blueprint = Blueprint("originals", __name__)


@blueprint.get("/original/<image_id>")
@operation(
    "Download an original (embedded mode)",
    tag="images",
    auth=False,
    query=OriginalQuery,
    ok={
        200: Reply(
            "the original as an attachment, never rendered",
            None,
            media=("application/octet-stream",),
        )
    },
    errors=(403, 404),
)
def download(image_id: str) -> Response:
    """On the signed link `original_url` gave; 403 unsigned, tampered or expired. On AWS
    `original_url` is an S3 presigned GET instead."""
    links = platform().originals
    if not isinstance(links, LocalOriginalLinks):
        raise ApiError(404, "not_found", "originals are downloaded from the object store here")
    try:
        links.verify(image_id, request.args)
    except InvalidSignature as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    services = platform().services
    try:
        record = services.catalog.get(image_id)
        stream = services.originals.open(record.original_key)
    except (RecordNotFound, BlobNotFound):
        raise ApiError(404, "not_found", f"no original for image {image_id!r}") from None
    response = Response(stream, mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{download_name(record.filename)}"'
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
