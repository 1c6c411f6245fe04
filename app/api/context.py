"""What each request needs: the services, the job queue, and the caller."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from app.api.errors import ApiError
from app.api.limits import check_auth_failures, record_auth_failure
from app.api.request_log import note_user
from app.api.running import PLATFORM_KEY
from app.audit import AuditLog
from app.auth.tokens import Identity, IdentityUnavailable, InvalidToken, TokenVerifier
from app.catalog import ImageRecord, RecordNotFound
from app.invalidation import Invalidator
from app.jobs import JobQueue
from app.original_links import OriginalLinks
from app.services import Services
from app.uploads.policy import LocalUploadSigner, UploadSigner


@dataclass(frozen=True)
class Platform:
    services: Services
    jobs: JobQueue
    tokens: TokenVerifier
    uploads: UploadSigner
    receiver: LocalUploadSigner | None  # the embedded form receiver, when originals are local
    cdn: Invalidator  # erasures invalidate the CDN's copies
    audit: AuditLog  # erasure receipts
    originals: OriginalLinks  # the owner's short-lived download links


def platform() -> Platform:
    value: Platform = current_app.extensions[PLATFORM_KEY]
    return value


def caller() -> str:
    """The user ID the request's bearer token speaks for (401 otherwise)."""
    return identity().user_id


def identity() -> Identity:
    """The verified caller, once per request: the rate limiter's key and the view both ask."""
    known: Identity | None = g.get("imagepipe_identity")
    if known is None:
        known = g.imagepipe_identity = _verified_caller()
    return known


def _verified_caller() -> Identity:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        check_auth_failures("")
        record_auth_failure("")
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    token = token.strip()
    check_auth_failures(token)
    try:
        who = platform().tokens.verify(token)
    except InvalidToken as exc:
        check_auth_failures(token, failed=True)  # this failure counts from the next request
        record_auth_failure(token)
        raise ApiError(401, "invalid_token", str(exc)) from None
    except IdentityUnavailable as exc:
        raise ApiError(503, "identity_unavailable", str(exc)) from None
    note_user(who.user_id)
    return who


def owned_record(image_id: str, user: str | Identity) -> ImageRecord:
    """The caller's own record (any record for an admin); another user's image is "not
    found" too, so none leaks."""
    who = user if isinstance(user, Identity) else Identity(user)
    try:
        record = platform().services.catalog.get(image_id)
    except RecordNotFound:
        record = None
    if record is None or not who.may_act_for(record.user_id):
        raise ApiError(404, "not_found", f"no image {image_id!r}")
    return record


def original_link(record: ImageRecord) -> str | None:
    """The owner's download link to the original; None once retention has removed it."""
    if not record.original_url:
        return None
    return platform().originals.link(record)
