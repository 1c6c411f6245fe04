"""POST /upload issues a presigned form; POST /upload/receive is the embedded mode's 'bucket'."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from flask import Blueprint, Response, request
from werkzeug.datastructures import FileStorage

from app import logs
from app.api.context import caller, owned_record, platform
from app.api.errors import ApiError
from app.api.limits import check_quota
from app.api.multipart import read_signed_upload
from app.api.operations import Reply, operation
from app.api.params import request_body
from app.api.responses import UploadCreated
from app.api.schemas import CompleteUploadRequest, ReceiveForm, UploadRequest
from app.catalog import RecordNotFound, Status
from app.imaging.formats import ACCEPTED_CONTENT_TYPES
from app.services import Services
from app.storage import StorageError
from app.uploads import single_use
from app.uploads.policy import UploadRejected, check_length

blueprint = Blueprint("uploads", __name__)
log = logging.getLogger(__name__)
# A queue of a thousand tasks drains in tens of seconds on two workers.
_RETRY_AFTER_SECONDS = 10


@blueprint.post("/upload")
@operation(
    "Ask for an upload form",
    tag="uploads",
    body=UploadRequest,
    ok={201: Reply("the image's ID and an S3-style presigned POST form", UploadCreated)},
    errors=(413, 415, 429, 503),
)
def create_upload() -> tuple[dict[str, Any], int]:
    """Nothing is stored when the answer is not 201. Post the form's fields, then the file."""
    user_id = caller()
    fields = request_body(UploadRequest, "{filename, content_type, size}")
    services = platform().services
    limit = services.settings.max_upload_bytes
    content_type = fields.content_type.split(";")[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{content_type!r} is not accepted; send JPEG, PNG, WebP, AVIF, HEIC/HEIF, GIF or TIFF",
        )
    if fields.size > limit:
        raise ApiError(
            413, "too_large", f"{fields.size} bytes is over the upload limit of {limit} bytes"
        )
    _admit(services, user_id)
    check_quota(services, user_id, fields.size)
    image_id = uuid.uuid4().hex
    logs.bind(image_id=image_id)  # this request's lines name the image from here on
    ticket = platform().uploads.presign(image_id, content_type, fields.size)
    record = services.new_record(
        image_id, user_id, content_type, fields.filename, request_id=logs.current_request_id()
    )
    services.catalog.add(record)
    return {"image_id": image_id, "upload": ticket.to_dict()}, 201


@blueprint.post("/upload/receive")
@operation(
    "Post an upload form (embedded mode's bucket)",
    tag="uploads",
    auth=False,
    body=ReceiveForm,
    body_media="multipart/form-data",
    ok={204: Reply("stored; processing starts", None, media=())},
    errors=(403, 404, 409, 503),
)
def receive_upload() -> Response:
    """Enforces the signed policy as S3 would, stores the bytes, then raises ObjectCreated.

    The form's fields come before the file, as S3 requires: the signature is checked when the
    file part begins. 403 for a forged, expired or altered form; 404 where uploads go to S3.
    """
    receiver = platform().receiver
    if receiver is None:
        raise ApiError(404, "not_found", "uploads go to the object store in this deployment")
    try:
        # The signature is checked when the file part begins, before its bytes are read.
        multipart = request.mimetype == "multipart/form-data"
        boundary = request.mimetype_params.get("boundary", "") if multipart else ""
        policy, upload = read_signed_upload(request.stream, boundary, receiver.verify)
        check_length(policy, _length(upload))
    except UploadRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    services = platform().services
    logs.bind(image_id=policy.key)
    try:
        first_use = single_use.receive(services.catalog, policy.key)
    except RecordNotFound:
        raise ApiError(404, "not_found", "no upload was prepared for this key") from None
    if not first_use:  # a conditional write in the catalog: of racing posts exactly one wins
        raise ApiError(409, "already_uploaded", "this upload form has been used already")
    try:
        services.originals.put(policy.key, upload.stream, content_type=policy.content_type)
    except StorageError:
        single_use.unreceive(services.catalog, policy.key)  # the client may post the form again
        raise ApiError(
            503, "storage_unavailable", "the upload could not be stored; retry"
        ) from None
    # If this is lost (the broker down, the process killed), the reconciler finds the received
    # upload still pending and starts it: the bytes are stored and the catalog knows it.
    try:
        platform().jobs.object_created(policy.key)
    except Exception:  # the upload is safe; only the hint is lost
        log.exception("ObjectCreated for %s not sent; the reconciler will start it", policy.key)
    return Response(status=204)


def _admit(services: Services, user_id: str) -> None:
    """Back-pressure: refuse new work while the queue is long, or the user has much unfinished."""
    settings = services.settings
    backlog = platform().jobs.backlog()
    if backlog > settings.max_backlog:
        raise ApiError(
            503,
            "busy",
            f"{backlog} tasks are queued (limit {settings.max_backlog}); try again shortly",
            headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
        )
    open_count = services.unfinished_uploads(user_id)
    if open_count >= settings.max_open_per_user:
        raise ApiError(
            429,
            "too_many_unfinished",
            f"you have {open_count} uploads not yet processed (limit "
            f"{settings.max_open_per_user}); wait for some to finish",
            headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
        )


@runtime_checkable
class MultipartUploads(Protocol):
    """A signer whose tickets can carry multipart part URLs (S3's, app/uploads/s3_post.py)."""

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> int: ...


@blueprint.post("/upload/<image_id>/complete")
@operation(
    "Complete a multipart upload (S3 originals)",
    tag="uploads",
    body=CompleteUploadRequest,
    ok={204: Reply("the parts are joined; processing starts", None, media=())},
    errors=(404, 409),
)
def complete_upload(image_id: str) -> Response:
    """Join the parts of a multipart upload; the store then raises ObjectCreated as for a POST.

    404 in embedded mode, where uploads are one form post.
    """
    user_id = caller()
    signer = platform().uploads
    if not isinstance(signer, MultipartUploads):
        raise ApiError(404, "not_found", "multipart uploads go to an S3 originals bucket")
    fields = request_body(CompleteUploadRequest, "{upload_id, parts}")
    parts = [(part.part_number, part.etag) for part in fields.parts]
    record = owned_record(image_id, user_id)
    if record.status is not Status.PENDING:
        raise ApiError(409, "already_uploaded", "this image has been uploaded already")
    try:
        signer.complete_multipart(record.original_key, fields.upload_id, parts)
    except UploadRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    except StorageError as exc:
        raise ApiError(503, "storage_unavailable", str(exc)) from None
    return Response(status=204)


def _length(upload: FileStorage) -> int:
    stream = upload.stream
    stream.seek(0, 2)
    length = stream.tell()
    stream.seek(0)
    return length
