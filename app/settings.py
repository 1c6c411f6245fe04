"""One frozen, validated settings object, read from the environment once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def file_url_path(url: str) -> Path:
    """The local path named by `file:///abs`, `file://./rel` or SQLAlchemy-style `sqlite:///rel`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///var/x.db is relative and sqlite:////abs/x.db absolute, as in SQLAlchemy.
        return Path(url[len("sqlite:///") :])
    if parts.scheme != "file":
        raise ValueError(f"not a file URL: {url}")
    return Path(parts.netloc + parts.path if parts.netloc else parts.path)


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _port(name: str, raw: str) -> int:
    value = _positive_int(name, raw)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        scheme = urlsplit(raw).scheme
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise SettingsError(f"{name} must start with one of {allowed}; got {raw!r}")
        if scheme in ("s3", "dynamodb") and not urlsplit(raw).netloc:
            raise SettingsError(
                f"{name} must name a bucket or table, e.g. {scheme}://name; got {raw!r}"
            )
        return raw

    return parse


def _http_base(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as http://127.0.0.1:8000; got {raw!r}"
        )
    return raw.rstrip("/")


def _bool(name: str, raw: str) -> bool:
    table = {"1": True, "true": True, "yes": True, "on": True}
    table |= {"0": False, "false": False, "no": False, "off": False}
    try:
        return table[raw.strip().lower()]
    except KeyError:
        raise SettingsError(f"{name} must be true or false, got {raw!r}") from None


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingsError(f"{name} must not be empty")
    return raw


_KEY_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MIN_SIGNING_SECRET = 16


@dataclass(frozen=True, repr=False)
class UrlSigningKeys:
    """``(key id, secret)`` pairs for delivery URLs: the first signs, every one verifies.

    Printing it shows the key ids only, so ``imagepipe check-config`` never leaks a secret.
    Empty means "derive one key from IMAGEPIPE_SECRET_KEY".
    """

    keys: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"UrlSigningKeys(ids={[key_id for key_id, _ in self.keys]})"

    __str__ = __repr__


def _signing_keys(name: str, raw: str) -> UrlSigningKeys:
    keys: list[tuple[str, str]] = []
    for item in raw.split(","):
        key_id, sep, secret = item.strip().partition(":")
        if not sep or not key_id or not set(key_id) <= _KEY_ID_CHARS or len(key_id) > 32:
            raise SettingsError(
                f"{name} must be a comma list of KEY_ID:SECRET (ids of letters, digits, _ or -)"
            )
        if len(secret) < _MIN_SIGNING_SECRET:
            raise SettingsError(
                f"{name}: the secret of key {key_id!r} must be at least "
                f"{_MIN_SIGNING_SECRET} characters"
            )
        if key_id in {k for k, _ in keys}:
            raise SettingsError(f"{name}: key id {key_id!r} is given twice")
        keys.append((key_id, secret))
    return UrlSigningKeys(tuple(keys))


def _cloudfront_key_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.isascii() or not value.isalnum() or len(value) > 64:
        raise SettingsError(f"{name} must be a CloudFront public key ID such as K2JCJMDEHXQW5F")
    return value


def _int_range(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
        return value

    return parse


def _basic_auth(name: str, raw: str) -> str:
    for pair in raw.split(","):
        user, sep, password = pair.partition(":")
        if not sep or not user or len(password) < 12:
            raise SettingsError(
                f"{name} must be user:password pairs, comma-separated, each password at "
                "least 12 characters"
            )
    return raw


def _log_format(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("json", "text"):
        raise SettingsError(f"{name} must be json or text, got {raw!r}")
    return value


def _rate(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a rate such as 60/minute, got {raw!r}") from None
    return raw


# (environment variable, settings field, parser, default). Defaults are the embedded mode.
_TABLE: tuple[tuple[str, str, Callable[[str, str], Any], str | None], ...] = (
    ("IMAGEPIPE_DATA_DIR", "data_dir", _text, "./var"),
    ("IMAGEPIPE_ORIGINALS_URL", "originals_url", _url(("file", "s3")), "file://./var/originals"),
    ("IMAGEPIPE_VARIANTS_URL", "variants_url", _url(("file", "s3")), "file://./var/variants"),
    (
        "IMAGEPIPE_CATALOG_URL",
        "catalog_url",
        _url(("sqlite", "dynamodb")),
        "sqlite:///./var/catalog.db",
    ),
    ("CELERY_BROKER_URL", "broker_url", _url(("filesystem", "sqs", "memory")), "filesystem://"),
    ("IMAGEPIPE_HOST", "host", _text, "127.0.0.1"),
    ("IMAGEPIPE_PORT", "port", _port, "8000"),
    ("FLOWER_PORT", "flower_port", _port, "5555"),
    ("FLOWER_HOST", "flower_host", _text, "127.0.0.1"),
    ("FLOWER_BASIC_AUTH", "flower_basic_auth", _basic_auth, None),
    ("IMAGEPIPE_PUBLIC_BASE_URL", "public_base_url", _http_base, None),
    ("IMAGEPIPE_SECRET_KEY", "secret_key", _text, None),
    ("IMAGEPIPE_MAX_UPLOAD_BYTES", "max_upload_bytes", _positive_int, str(50 * 1000 * 1000)),
    ("IMAGEPIPE_UPLOAD_TTL_SECONDS", "upload_ttl_seconds", _positive_int, "900"),
    ("IMAGEPIPE_TOKEN_TTL_SECONDS", "token_ttl_seconds", _positive_int, "3600"),
    ("IMAGEPIPE_MAX_PIXELS", "max_pixels", _positive_int, str(50_000_000)),
    ("IMAGEPIPE_MAX_TOTAL_PIXELS", "max_total_pixels", _positive_int, str(200_000_000)),
    ("IMAGEPIPE_MAX_FRAMES", "max_frames", _positive_int, "1000"),
    ("IMAGEPIPE_MAX_JPEG_SCANS", "max_jpeg_scans", _positive_int, "100"),
    ("IMAGEPIPE_MAX_METADATA_BYTES", "max_metadata_bytes", _positive_int, str(8 * 1024 * 1024)),
    ("IMAGEPIPE_MAX_EXIF_BYTES", "max_exif_bytes", _positive_int, str(1024 * 1024)),
    ("IMAGEPIPE_DECODE_SECONDS", "decode_seconds", _positive_int, "30"),
    ("IMAGEPIPE_DECODE_MEMORY_MB", "decode_memory_mb", _positive_int, "1024"),
    ("IMAGEPIPE_TASK_TIME_LIMIT", "task_time_limit", _positive_int, "120"),
    ("IMAGEPIPE_WORKER_MEMORY_MB", "worker_memory_mb", _positive_int, "1536"),
    ("IMAGEPIPE_STUCK_AFTER_SECONDS", "stuck_after_seconds", _positive_int, "600"),
    ("IMAGEPIPE_LEASE_SECONDS", "lease_seconds", _int_range(3, 3600), "30"),
    ("IMAGEPIPE_MAX_BACKLOG", "max_backlog", _positive_int, "1000"),
    ("IMAGEPIPE_MAX_OPEN_PER_USER", "max_open_per_user", _positive_int, "100"),
    ("IMAGEPIPE_JPEG_BACKGROUND", "jpeg_background", _text, "#ffffff"),
    ("IMAGEPIPE_AVIF", "avif", _bool, "true"),
    ("IMAGEPIPE_PRIVATE_IMAGES", "private_images", _bool, "true"),
    ("IMAGEPIPE_URL_SIGNING_KEYS", "url_signing_keys", _signing_keys, None),
    ("IMAGEPIPE_SIGNED_URL_TTL_SECONDS", "signed_url_ttl_seconds", _positive_int, "3600"),
    ("IMAGEPIPE_ORIGINAL_LINK_TTL_SECONDS", "original_link_ttl_seconds", _positive_int, "300"),
    ("IMAGEPIPE_CLOUDFRONT_DISTRIBUTION_ID", "cloudfront_distribution_id", _text, None),
    ("IMAGEPIPE_CLOUDFRONT_KEY_ID", "cloudfront_key_id", _cloudfront_key_id, None),
    ("IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH", "cloudfront_private_key_path", _text, None),
    # Abuse limits (docs/security.md): rates as "N/minute", "N/hour"...; counters in memory
    # (one process) or a shared store such as redis://host:6379.
    ("IMAGEPIPE_RATE_LIMIT_STORAGE_URI", "rate_limit_storage_uri", _text, "memory://"),
    ("IMAGEPIPE_UPLOAD_RATE_PER_USER", "upload_rate_per_user", _rate, "60/minute"),
    ("IMAGEPIPE_UPLOAD_RATE_PER_IP", "upload_rate_per_ip", _rate, "300/minute"),
    ("IMAGEPIPE_AUTH_FAILURE_RATE", "auth_failure_rate", _rate, "20/minute"),
    ("IMAGEPIPE_QUOTA_BYTES_PER_USER", "quota_bytes_per_user", _positive_int, str(10 * 1000**3)),
    ("IMAGEPIPE_QUOTA_UPLOADS_PER_DAY", "quota_uploads_per_day", _positive_int, "1000"),
    # Retention (app/retention.py; docs/gdpr.md). 0 keeps originals for as long as the image.
    ("IMAGEPIPE_ORIGINAL_RETENTION_DAYS", "original_retention_days", _int_range(0, 36500), "0"),
    ("IMAGEPIPE_ABANDONED_UPLOAD_SECONDS", "abandoned_upload_seconds", _positive_int, "86400"),
    ("IMAGEPIPE_FAILED_RETENTION_DAYS", "failed_retention_days", _positive_int, "30"),
    # Cognito User Pool (docs/security.md): set the pool to verify its tokens instead of the
    # local issuer's. The region defaults to AWS_REGION.
    ("IMAGEPIPE_COGNITO_REGION", "cognito_region", _text, None),
    ("IMAGEPIPE_COGNITO_USER_POOL_ID", "cognito_user_pool_id", _text, None),
    ("IMAGEPIPE_COGNITO_CLIENT_ID", "cognito_client_id", _text, None),
    # The page's sign-in (web/signin.js): the pool's hosted UI, e.g.
    # https://<prefix>.auth.<region>.amazoncognito.com. The issuer is set only for a stand-in.
    ("IMAGEPIPE_COGNITO_HOSTED_UI_URL", "cognito_hosted_ui_url", _http_base, None),
    ("IMAGEPIPE_COGNITO_ISSUER_URL", "cognito_issuer_url", _http_base, None),
    # AWS (docs/aws.md). Region and endpoint default to boto3's own configuration chain.
    ("AWS_REGION", "aws_region", _text, None),
    ("AWS_ENDPOINT_URL", "aws_endpoint_url", _http_base, None),
    ("IMAGEPIPE_UPLOADS_QUEUE", "uploads_queue", _text, "uploads"),
    ("IMAGEPIPE_TASK_QUEUE", "task_queue", _text, "imagepipe"),
    ("IMAGEPIPE_TASK_QUEUE_URL", "task_queue_url", _http_base, None),
    ("IMAGEPIPE_SQS_WAIT_SECONDS", "sqs_wait_seconds", _int_range(0, 20), "10"),
    ("IMAGEPIPE_SQS_MAX_RECEIVES", "sqs_max_receives", _int_range(1, 1000), "5"),
    ("IMAGEPIPE_EVENTS_FANOUT", "events_fanout", _bool, "true"),
    ("IMAGEPIPE_TASK_EVENTS", "task_events", _bool, "true"),
    (
        "IMAGEPIPE_MULTIPART_THRESHOLD_BYTES",
        "multipart_threshold_bytes",
        _positive_int,
        str(15 * 1000 * 1000),
    ),
    (
        "IMAGEPIPE_MULTIPART_PART_BYTES",
        "multipart_part_bytes",
        _int_range(5 * 1024 * 1024, 5 * 1024**3),
        str(8 * 1024 * 1024),
    ),
    # Logs and metrics (docs/operations.md). The log format defaults to text when embedded and
    # JSON on AWS; the worker's metrics port 0 means none.
    ("IMAGEPIPE_LOG_FORMAT", "log_format", _log_format, None),
    ("IMAGEPIPE_METRICS_TOKEN", "metrics_token", _text, None),
    ("IMAGEPIPE_WORKER_METRICS_HOST", "worker_metrics_host", _text, "127.0.0.1"),
    ("IMAGEPIPE_WORKER_METRICS_PORT", "worker_metrics_port", _int_range(0, 65535), "0"),
)


@dataclass(frozen=True)
class Settings:
    originals_url: str
    variants_url: str
    catalog_url: str
    broker_url: str
    public_base_url: str
    secret_key: str
    data_dir: str = "./var"
    host: str = "127.0.0.1"
    port: int = 8000
    flower_port: int = 5555
    flower_host: str = "127.0.0.1"  # beyond loopback, Flower needs flower_basic_auth
    flower_basic_auth: str = field(default="", repr=False)
    max_upload_bytes: int = 50 * 1000 * 1000
    upload_ttl_seconds: int = 900
    token_ttl_seconds: int = 3600
    max_pixels: int = 50_000_000
    max_total_pixels: int = 200_000_000
    # Bomb guards and the decode sandbox (docs/robustness.md gives the reason for each default).
    max_frames: int = 1000
    max_jpeg_scans: int = 100
    max_metadata_bytes: int = 8 * 1024 * 1024
    max_exif_bytes: int = 1024 * 1024
    decode_seconds: int = 30  # probe + decode + master resize, in a child process
    decode_memory_mb: int = 1024  # address space that child may add
    task_time_limit: int = 120
    worker_memory_mb: int = 1536
    stuck_after_seconds: int = 600  # requeued then even while the queue still holds work
    # A running stage renews its record within this; a record idle longer while the queue is
    # empty lost its message (a killed worker) and is requeued (tasks/reconcile.py).
    lease_seconds: int = 30
    max_backlog: int = 1000  # queued tasks past which POST /upload answers 503
    max_open_per_user: int = 100  # one user's unfinished uploads past which they get 429
    jpeg_background: str = "#ffffff"
    avif: bool = True
    # Delivery: private images need a signed, expiring URL (docs/delivery.md).
    private_images: bool = True
    url_signing_keys: UrlSigningKeys = UrlSigningKeys()
    signed_url_ttl_seconds: int = 3600
    original_link_ttl_seconds: int = 300  # the owner's download links to an original
    cloudfront_distribution_id: str = ""  # set: erasures invalidate the image's paths there
    cloudfront_key_id: str = ""  # set (with the key path) to sign CloudFront URLs instead
    cloudfront_private_key_path: str = ""
    rate_limit_storage_uri: str = "memory://"
    upload_rate_per_user: str = "60/minute"
    upload_rate_per_ip: str = "300/minute"
    auth_failure_rate: str = "20/minute"
    quota_bytes_per_user: int = 10 * 1000**3
    quota_uploads_per_day: int = 1000
    original_retention_days: int = 0  # 0: kept as long as the image
    abandoned_upload_seconds: int = 86400
    failed_retention_days: int = 30
    # Cognito: empty pool id means the embedded local issuer (app/auth/tokens.py).
    cognito_region: str = ""
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    cognito_hosted_ui_url: str = ""  # set: the page signs in there (code flow with PKCE)
    cognito_issuer_url: str = ""  # unset: https://cognito-idp.<region>.amazonaws.com/<pool>
    # AWS: endpoint/region (None: boto3's own chain), the queues, and multipart uploads.
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    uploads_queue: str = "uploads"  # S3 ObjectCreated events: a queue name or URL
    task_queue: str = "imagepipe"  # Celery's queue
    task_queue_url: str | None = None  # set: Celery uses only this predefined SQS queue
    sqs_wait_seconds: int = 10
    sqs_max_receives: int = 5  # then SQS moves a message to the queue's DLQ
    events_fanout: bool = True  # Celery events over SNS on SQS, so Flower sees workers
    # Celery task events, what Flower shows: on AWS ~20 SNS publishes and ~22 SQS requests an
    # image (docs/capacity.md); off in a production that watches CloudWatch instead.
    task_events: bool = True
    multipart_threshold_bytes: int = 15 * 1000 * 1000
    multipart_part_bytes: int = 8 * 1024 * 1024
    log_format: str = ""  # "json" or "text"; empty: text when embedded, JSON otherwise
    # Set: GET /metrics needs "Authorization: Bearer <token>"; unset: loopback clients only.
    metrics_token: str = field(default="", repr=False)
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 0  # the worker's Prometheus endpoint; 0: none

    @property
    def embedded(self) -> bool:
        """True when every backend is local: no server, no credentials."""
        return all(
            urlsplit(u).scheme in ("file", "sqlite", "filesystem", "memory")
            for u in (self.originals_url, self.variants_url, self.catalog_url, self.broker_url)
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, attr, parse, default in _TABLE:
            raw = env.get(var)
            if raw is None or raw == "":
                if default is None:
                    continue
                raw = default
            values[attr] = parse(var, raw)
        values.setdefault("public_base_url", f"http://{values['host']}:{values['port']}")
        if "secret_key" not in values:
            values["secret_key"] = _embedded_secret(values)
        _check_colour("IMAGEPIPE_JPEG_BACKGROUND", values["jpeg_background"])
        settings = cls(**values)
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
        return settings

    def data_path(self, *parts: str) -> Path:
        return Path(self.data_dir).joinpath(*parts)


def _embedded_secret(values: Mapping[str, Any]) -> str:
    """Embedded mode keeps one generated key under the data folder; AWS mode must be given one."""
    urls = [values[k] for k in ("originals_url", "variants_url", "catalog_url", "broker_url")]
    if any(urlsplit(u).scheme not in ("file", "sqlite", "filesystem", "memory") for u in urls):
        raise SettingsError("IMAGEPIPE_SECRET_KEY must be set when any backend is not embedded")
    path = Path(values["data_dir"]) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Write aside, then link: two processes starting together agree on one key.
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if not key:
        raise SettingsError(f"IMAGEPIPE_SECRET_KEY is unset and {path} is empty")
    return key


def _check_colour(name: str, raw: str) -> None:
    text = raw.lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise SettingsError(f"{name} must be a colour like #ffffff, got {raw!r}")
