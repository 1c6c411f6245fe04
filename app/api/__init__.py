"""The Flask API: create_app() builds it from settings, with one blueprint per concern."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

from app.api import (
    context,
    delivery,
    devlogin,
    hardening,
    health,
    images,
    limits,
    metrics,
    openapi,
    originals,
    pageconfig,
    privacy,
    render,
    request_log,
    uploads,
    webpage,
)
from app.api.context import Platform
from app.api.errors import register_error_handlers
from app.api.running import PLATFORM_KEY
from app.audit import JsonLinesAuditLog
from app.auth.tokens import verifier_from_settings
from app.invalidation import invalidator_from_settings
from app.jobs import CeleryJobQueue, JobQueue
from app.original_links import original_links
from app.services import Services, build_services
from app.settings import Settings, current
from app.uploads.policy import LocalUploadSigner, UploadSigner

# A multipart form around the largest allowed file needs a little room for its other fields.
_FORM_OVERHEAD = 64 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    jobs: JobQueue | None = None,
) -> Flask:
    settings = settings or current()
    services = services or build_services(settings)
    receiver, signer = _upload_signers(settings)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + _FORM_OVERHEAD
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[PLATFORM_KEY] = Platform(
        services=services,
        jobs=jobs or CeleryJobQueue(),
        tokens=verifier_from_settings(settings),
        uploads=signer,
        receiver=receiver,
        cdn=invalidator_from_settings(settings),
        audit=JsonLinesAuditLog(
            settings.data_path("audit", "erasures.jsonl"), settings.secret_key.reveal()
        ),
        originals=original_links(settings, services.originals),
    )
    register_error_handlers(app)
    request_log.install(app)  # first: its request ID is bound before other hooks can refuse
    metrics.install(app, settings)
    hardening.install(app, settings)
    for module in (
        uploads,
        images,
        privacy,
        originals,
        delivery,
        render,
        health,
        webpage,
        devlogin,
        openapi,
        pageconfig,
    ):
        app.register_blueprint(module.blueprint)
    # The caller is found by context.identity, which itself counts failed sign-ins in limits.
    limits.install(app, settings, caller=lambda: context.identity().user_id)
    return app


def _upload_signers(settings: Settings) -> tuple[LocalUploadSigner | None, UploadSigner]:
    """(the embedded receiver or None, the signer): S3 presigned POST for s3:// originals."""
    if urlsplit(settings.originals_url).scheme == "s3":
        from app.uploads.s3_post import S3PostSigner

        return None, S3PostSigner.from_settings(settings)
    local = LocalUploadSigner(
        settings.secret_key.reveal(),
        f"{settings.public_base_url}/upload/receive",
        ttl_seconds=settings.upload_ttl_seconds,
    )
    return local, local
