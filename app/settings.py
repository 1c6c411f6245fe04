"""One frozen, validated settings object, read from the environment once per process.

Each setting is one line of the `Settings` dataclass: `name: type = env(VARIABLE, parser,
default)`. `current()` is the process's settings, parsed once; secrets are `Secret`s, masked
wherever they are printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.eager import EAGER_DEFAULT, EagerVariants, as_eager_variants, default_for
from app.imaging.limits import Limits
from app.setting_types import (
    PARSE,
    VAR,
    Secret,
    SettingsError,
    UrlSigningKeys,
    as_basic_auth,
    as_bool,
    as_choice,
    as_cloudfront_key_id,
    as_colour,
    as_http_base,
    as_int_range,
    as_port,
    as_positive_int,
    as_rate,
    as_secret,
    as_signing_keys,
    as_text,
    as_url,
    env,
    file_url_path,
)

_MiB = 1024 * 1024
# The URL schemes whose backend is local: no server, no credentials.
EMBEDDED_SCHEMES = frozenset({"file", "sqlite", "filesystem", "memory"})
_BLOB_SCHEMES = ("file", "s3")


# Re-exported: what callers of the settings need from app/setting_types.py.
__all__ = ["Secret", "Settings", "SettingsError", "UrlSigningKeys", "current", "file_url_path"]


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: `name: type = env(VARIABLE, parser, default)`.

    The defaults are the embedded mode. Read them with `current()`, not by building one.
    """

    data_dir: str = env("IMAGEPIPE_DATA_DIR", as_text, "./var")
    originals_url: str = env(
        "IMAGEPIPE_ORIGINALS_URL", as_url(_BLOB_SCHEMES), "file://./var/originals"
    )
    variants_url: str = env(
        "IMAGEPIPE_VARIANTS_URL", as_url(_BLOB_SCHEMES), "file://./var/variants"
    )
    catalog_url: str = env(
        "IMAGEPIPE_CATALOG_URL", as_url(("sqlite", "dynamodb")), "sqlite:///./var/catalog.db"
    )
    broker_url: str = env(
        "CELERY_BROKER_URL", as_url(("filesystem", "sqs", "memory")), "filesystem://"
    )
    host: str = env("IMAGEPIPE_HOST", as_text, "127.0.0.1")
    port: int = env("IMAGEPIPE_PORT", as_port, 8000)
    flower_port: int = env("FLOWER_PORT", as_port, 5555)
    # Beyond loopback, Flower needs flower_basic_auth.
    flower_host: str = env("FLOWER_HOST", as_text, "127.0.0.1")
    flower_basic_auth: Secret = env("FLOWER_BASIC_AUTH", as_secret(as_basic_auth), Secret(""))
    # Empty: http://{host}:{port}.
    public_base_url: str = env("IMAGEPIPE_PUBLIC_BASE_URL", as_http_base, "")
    # Empty: embedded mode generates one under data_dir (on first use); AWS mode must set it.
    secret_key: Secret = env("IMAGEPIPE_SECRET_KEY", as_secret(as_text), Secret(""))
    max_upload_bytes: int = env("IMAGEPIPE_MAX_UPLOAD_BYTES", as_positive_int, Limits.max_bytes)
    upload_ttl_seconds: int = env("IMAGEPIPE_UPLOAD_TTL_SECONDS", as_positive_int, 900)
    token_ttl_seconds: int = env("IMAGEPIPE_TOKEN_TTL_SECONDS", as_positive_int, 3600)
    # Bomb guards and the decode sandbox: app/imaging/limits.py's defaults, whose reasons
    # docs/robustness.md gives.
    max_pixels: int = env("IMAGEPIPE_MAX_PIXELS", as_positive_int, Limits.max_pixels)
    max_total_pixels: int = env(
        "IMAGEPIPE_MAX_TOTAL_PIXELS", as_positive_int, Limits.max_total_pixels
    )
    max_frames: int = env("IMAGEPIPE_MAX_FRAMES", as_positive_int, Limits.max_frames)
    max_jpeg_scans: int = env("IMAGEPIPE_MAX_JPEG_SCANS", as_positive_int, Limits.max_scans)
    max_metadata_bytes: int = env(
        "IMAGEPIPE_MAX_METADATA_BYTES", as_positive_int, Limits.max_metadata_bytes
    )
    max_exif_bytes: int = env("IMAGEPIPE_MAX_EXIF_BYTES", as_positive_int, Limits.max_exif_bytes)
    # probe + decode + master resize, in a child process; and the address space it may add.
    decode_seconds: int = env(
        "IMAGEPIPE_DECODE_SECONDS", as_positive_int, round(Limits.decode_seconds)
    )
    decode_memory_mb: int = env(
        "IMAGEPIPE_DECODE_MEMORY_MB", as_positive_int, Limits.decode_memory_bytes // _MiB
    )
    task_time_limit: int = env("IMAGEPIPE_TASK_TIME_LIMIT", as_positive_int, 120)
    worker_memory_mb: int = env("IMAGEPIPE_WORKER_MEMORY_MB", as_positive_int, 1536)
    # Requeued then even while the queue still holds work.
    stuck_after_seconds: int = env("IMAGEPIPE_STUCK_AFTER_SECONDS", as_positive_int, 600)
    # A running stage renews its record within this; a record idle longer while the queue is
    # empty lost its message (a killed worker) and is requeued (tasks/reconcile.py).
    lease_seconds: int = env("IMAGEPIPE_LEASE_SECONDS", as_int_range(3, 3600), 30)
    # /health/ready: a backend that has not answered within this is reported unavailable (503).
    health_timeout_seconds: int = env("IMAGEPIPE_HEALTH_TIMEOUT_SECONDS", as_int_range(1, 60), 3)
    # Queued tasks past which POST /upload answers 503.
    max_backlog: int = env("IMAGEPIPE_MAX_BACKLOG", as_positive_int, 1000)
    # One user's unfinished uploads past which they get 429.
    max_open_per_user: int = env("IMAGEPIPE_MAX_OPEN_PER_USER", as_positive_int, 100)
    jpeg_background: str = env("IMAGEPIPE_JPEG_BACKGROUND", as_colour, "#ffffff")
    avif: bool = env("IMAGEPIPE_AVIF", as_bool, True)
    # The variants processing makes up front; the others are made on their first request
    # (app/eager.py has the grammar; docs/capacity.md, lever 4). Unset, it follows IMAGEPIPE_AVIF.
    eager_variants: EagerVariants = env(
        "IMAGEPIPE_EAGER_VARIANTS", as_eager_variants, EAGER_DEFAULT
    )
    # How encode gets the resized widths resize made: "stored" (resize stores them, ~13 MB for
    # 12 MP, and encode reads them back) or "decoded" (encode decodes the original again).
    # Empty: stored in a local folder, where that is free and faster than a decode; decoded on
    # S3, where storing it is a billed PUT (docs/capacity.md, lever 2, has the trade).
    working_pyramid: str = env("IMAGEPIPE_WORKING_PYRAMID", as_choice("stored", "decoded"), "")
    # A stage's variants in one stored object, read back by byte range: one PUT for a stage
    # instead of one a variant (app/packs.py; docs/capacity.md, lever 5). Off: one object each.
    pack_variants: bool = env("IMAGEPIPE_PACK_VARIANTS", as_bool, True)
    # Prefork pool processes per worker (celeryconfig.py): images processed at once.
    worker_concurrency: int = env("IMAGEPIPE_WORKER_CONCURRENCY", as_int_range(1, 64), 2)
    # First-request renders at once per API process; past it, 503 with Retry-After.
    render_concurrency: int = env("IMAGEPIPE_RENDER_CONCURRENCY", as_int_range(1, 64), 2)
    # Set: /render/{id}/{name} (CloudFront's failover origin) needs it in the
    # X-Imagepipe-Render-Secret header, which CloudFront adds; unset: the route is off (404).
    render_origin_secret: Secret = env(
        "IMAGEPIPE_RENDER_ORIGIN_SECRET", as_secret(as_text), Secret("")
    )
    # Delivery: private images need a signed, expiring URL (docs/delivery.md).
    private_images: bool = env("IMAGEPIPE_PRIVATE_IMAGES", as_bool, True)
    url_signing_keys: UrlSigningKeys = env(
        "IMAGEPIPE_URL_SIGNING_KEYS", as_signing_keys, UrlSigningKeys()
    )
    signed_url_ttl_seconds: int = env("IMAGEPIPE_SIGNED_URL_TTL_SECONDS", as_positive_int, 3600)
    # The owner's download links to an original.
    original_link_ttl_seconds: int = env(
        "IMAGEPIPE_ORIGINAL_LINK_TTL_SECONDS", as_positive_int, 300
    )
    # Set: erasures invalidate the image's paths there.
    cloudfront_distribution_id: str = env("IMAGEPIPE_CLOUDFRONT_DISTRIBUTION_ID", as_text, "")
    # Set (with the key path) to sign CloudFront URLs instead.
    cloudfront_key_id: str = env("IMAGEPIPE_CLOUDFRONT_KEY_ID", as_cloudfront_key_id, "")
    cloudfront_private_key_path: str = env("IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH", as_text, "")
    # Abuse limits (docs/security.md): rates as "N/minute", "N/hour"...; counters in memory
    # (one process) or a shared store such as redis://host:6379.
    rate_limit_storage_uri: str = env("IMAGEPIPE_RATE_LIMIT_STORAGE_URI", as_text, "memory://")
    # Whose address the limits count (app/api/client.py): the proxies in front of the API that
    # append their peer to X-Forwarded-For (the stack's ALB: 1); 0 takes the socket's peer.
    trusted_proxies: int = env("IMAGEPIPE_TRUSTED_PROXIES", as_int_range(0, 5), 0)
    # Set: a request with it in X-Imagepipe-Cdn-Secret came through the CDN, which appended the
    # viewer's address: one proxy more is trusted (CloudFront adds it on the stack).
    cdn_origin_secret: Secret = env("IMAGEPIPE_CDN_ORIGIN_SECRET", as_secret(as_text), Secret(""))
    upload_rate_per_user: str = env("IMAGEPIPE_UPLOAD_RATE_PER_USER", as_rate, "60/minute")
    upload_rate_per_ip: str = env("IMAGEPIPE_UPLOAD_RATE_PER_IP", as_rate, "300/minute")
    auth_failure_rate: str = env("IMAGEPIPE_AUTH_FAILURE_RATE", as_rate, "20/minute")
    quota_bytes_per_user: int = env("IMAGEPIPE_QUOTA_BYTES_PER_USER", as_positive_int, 10 * 1000**3)
    quota_uploads_per_day: int = env("IMAGEPIPE_QUOTA_UPLOADS_PER_DAY", as_positive_int, 1000)
    # Retention (app/retention.py; docs/gdpr.md). 0 keeps originals for as long as the image.
    original_retention_days: int = env(
        "IMAGEPIPE_ORIGINAL_RETENTION_DAYS", as_int_range(0, 36500), 0
    )
    abandoned_upload_seconds: int = env(
        "IMAGEPIPE_ABANDONED_UPLOAD_SECONDS", as_positive_int, 86400
    )
    failed_retention_days: int = env("IMAGEPIPE_FAILED_RETENTION_DAYS", as_positive_int, 30)
    # Cognito User Pool (docs/security.md): set the pool to verify its tokens instead of the
    # local issuer's (app/auth/tokens.py). The region defaults to AWS_REGION.
    cognito_region: str = env("IMAGEPIPE_COGNITO_REGION", as_text, "")
    cognito_user_pool_id: str = env("IMAGEPIPE_COGNITO_USER_POOL_ID", as_text, "")
    cognito_client_id: str = env("IMAGEPIPE_COGNITO_CLIENT_ID", as_text, "")
    # The page's sign-in (web/signin.js): the pool's hosted UI, e.g.
    # https://<prefix>.auth.<region>.amazoncognito.com. The issuer is set only for a stand-in;
    # empty: https://cognito-idp.<region>.amazonaws.com/<pool>.
    cognito_hosted_ui_url: str = env("IMAGEPIPE_COGNITO_HOSTED_UI_URL", as_http_base, "")
    cognito_issuer_url: str = env("IMAGEPIPE_COGNITO_ISSUER_URL", as_http_base, "")
    # AWS (docs/aws.md). Region and endpoint: None is boto3's own configuration chain.
    aws_region: str | None = env("AWS_REGION", as_text, None)
    aws_endpoint_url: str | None = env("AWS_ENDPOINT_URL", as_http_base, None)
    # S3 ObjectCreated events: a queue name or URL.
    uploads_queue: str = env("IMAGEPIPE_UPLOADS_QUEUE", as_text, "uploads")
    task_queue: str = env("IMAGEPIPE_TASK_QUEUE", as_text, "imagepipe")  # Celery's queue
    # Set: Celery uses only this predefined SQS queue.
    task_queue_url: str | None = env("IMAGEPIPE_TASK_QUEUE_URL", as_http_base, None)
    sqs_wait_seconds: int = env("IMAGEPIPE_SQS_WAIT_SECONDS", as_int_range(0, 20), 10)
    # Then SQS moves a message to the queue's DLQ.
    sqs_max_receives: int = env("IMAGEPIPE_SQS_MAX_RECEIVES", as_int_range(1, 1000), 5)
    # Celery events over SNS on SQS, so Flower sees workers.
    events_fanout: bool = env("IMAGEPIPE_EVENTS_FANOUT", as_bool, True)
    # Celery task events, what Flower shows: on AWS ~20 SNS publishes and ~22 SQS requests an
    # image (docs/capacity.md); off in a production that watches CloudWatch instead.
    task_events: bool = env("IMAGEPIPE_TASK_EVENTS", as_bool, True)
    multipart_threshold_bytes: int = env(
        "IMAGEPIPE_MULTIPART_THRESHOLD_BYTES", as_positive_int, 15 * 1000 * 1000
    )
    multipart_part_bytes: int = env(
        "IMAGEPIPE_MULTIPART_PART_BYTES", as_int_range(5 * _MiB, 5 * 1024**3), 8 * _MiB
    )
    # Logs and metrics (docs/operations.md). The log format "json" or "text"; empty: text when
    # embedded, JSON otherwise. The worker's metrics port 0 means none.
    log_format: str = env("IMAGEPIPE_LOG_FORMAT", as_choice("json", "text"), "")
    metrics_token: Secret = env("IMAGEPIPE_METRICS_TOKEN", as_secret(as_text), Secret(""))
    worker_metrics_host: str = env("IMAGEPIPE_WORKER_METRICS_HOST", as_text, "127.0.0.1")
    worker_metrics_port: int = env("IMAGEPIPE_WORKER_METRICS_PORT", as_int_range(0, 65535), 0)

    def __post_init__(self) -> None:
        # Built by hand (tests, benchmarks), a secret may be given as plain text.
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type == "Secret" and not isinstance(value, Secret):
                object.__setattr__(self, item.name, Secret(value))
        if not self.public_base_url:
            object.__setattr__(self, "public_base_url", f"http://{self.host}:{self.port}")
        object.__setattr__(self, "eager_variants", default_for(self.eager_variants, avif=self.avif))

    @property
    def stores_pyramid(self) -> bool:
        """True when resize stores the resized widths for encode (IMAGEPIPE_WORKING_PYRAMID)."""
        if self.working_pyramid:
            return self.working_pyramid == "stored"
        return urlsplit(self.variants_url).scheme == "file"

    @property
    def embedded(self) -> bool:
        """True when every backend is local: no server, no credentials."""
        return all(
            urlsplit(u).scheme in EMBEDDED_SCHEMES
            for u in (self.originals_url, self.variants_url, self.catalog_url, self.broker_url)
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse and check every setting; SettingsError names the variable at fault.

        Writes nothing: embedded mode's generated secret key is made when first used.
        """
        env_ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env_.get(item.metadata[VAR], "")
            if raw != "":
                values[item.name] = item.metadata[PARSE](item.metadata[VAR], raw)
        settings = cls(**values)
        if not settings.secret_key:
            if not settings.embedded:
                raise SettingsError(
                    "IMAGEPIPE_SECRET_KEY must be set when any backend is not embedded"
                )
            settings = replace(
                settings, secret_key=Secret.in_file(settings.data_path("secret_key"))
            )
        _check_together(settings)
        return settings

    def data_path(self, *parts: str) -> Path:
        return Path(self.data_dir).joinpath(*parts)


def variables() -> tuple[str, ...]:
    """Every environment variable a setting reads, in declaration order."""
    return tuple(item.metadata[VAR] for item in fields(Settings))


@cache
def current() -> Settings:
    """This process's settings, read from the environment once.

    Tests that change the environment call `current.cache_clear()` (tests/conftest.py does).
    """
    return Settings.from_env()


def _check_together(settings: Settings) -> None:
    """The rules between settings."""
    if settings.decode_seconds >= settings.task_time_limit:
        # The sandbox must stop a slow decode before Celery kills the whole task.
        raise SettingsError(
            f"IMAGEPIPE_DECODE_SECONDS ({settings.decode_seconds}) must be below "
            f"IMAGEPIPE_TASK_TIME_LIMIT ({settings.task_time_limit})"
        )
    if settings.original_retention_days and urlsplit(settings.catalog_url).scheme != "sqlite":
        # DynamoDB indexes only unfinished and failed images, so it cannot list old ready
        # ones cheaply; S3's own lifecycle rule expires originals there instead.
        raise SettingsError(
            "IMAGEPIPE_ORIGINAL_RETENTION_DAYS is for the embedded catalog; on AWS set the "
            "stack's imagepipe:originalsRetentionDays (an S3 lifecycle rule, docs/deploy.md)"
        )
