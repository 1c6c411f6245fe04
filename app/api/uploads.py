"""POST /upload issues a presigned form; POST /upload/receive is the embedded mode's 'bucket'."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import FileStorage

from app.api.context import caller, platform
from app.api.errors import ApiError
from app.api.params import bounded_int, parse, text
from app.catalog import ImageRecord, RecordNotFound, Status
from app.imaging.formats import ACCEPTED_CONTENT_TYPES
from app.uploads.policy import UploadRejected, check_length

blueprint = Blueprint("uploads", __name__)


@blueprint.post("/upload")
def create_upload() -> tuple[dict[str, Any], int]:
    user_id = caller()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "send a JSON object {filename, content_type, size}")
    services = platform().services
    limit = services.settings.max_upload_bytes
    fields = parse(
        body,
        {
            "filename": (text(255), True),
            "content_type": (text(100), True),
            "size": (bounded_int(1, 2**53), True),
        },
    )
    content_type = fields["content_type"].split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{content_type!r} is not accepted; send JPEG, PNG, WebP, AVIF, HEIC/HEIF, GIF or TIFF",
        )
    if fields["size"] > limit:
        raise ApiError(
            413, "too_large", f"{fields['size']} bytes is over the upload limit of {limit} bytes"
        )
    image_id = uuid.uuid4().hex
    ticket = platform().uploads.presign(image_id, content_type, fields["size"])
    services.catalog.add(
        ImageRecord(
            image_id=image_id,
            user_id=user_id,
            upload_time=time.time(),
            original_url=services.originals.url_for(image_id),
            original_key=image_id,
            content_type=content_type,
            filename=fields["filename"],
        )
    )
    return {"image_id": image_id, "upload": ticket.to_dict()}, 201


@blueprint.post("/upload/receive")
def receive_upload() -> Response:
    """Enforces the signed policy as S3 would, stores the bytes, then raises ObjectCreated."""
    receiver = platform().receiver
    if receiver is None:
        raise ApiError(404, "not_found", "uploads go to the object store in this deployment")
    try:
        policy = receiver.verify(request.form)
        upload = request.files.get("file")
        if not isinstance(upload, FileStorage):
            raise UploadRejected(400, "missing_file", "the form has no 'file' part")
        check_length(policy, _length(upload))
    except UploadRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    services = platform().services
    try:
        record = services.catalog.get(policy.key)
    except RecordNotFound:
        raise ApiError(404, "not_found", "no upload was prepared for this key") from None
    if record.status is not Status.PENDING or services.originals.exists(policy.key):
        raise ApiError(409, "already_uploaded", "this upload form has been used already")
    services.originals.put(policy.key, upload.stream, content_type=policy.content_type)
    platform().jobs.object_created(policy.key)
    return Response(status=204)


def _length(upload: FileStorage) -> int:
    stream = upload.stream
    stream.seek(0, 2)
    length = stream.tell()
    stream.seek(0)
    return length
