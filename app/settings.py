"""One frozen, validated settings object, read from the environment once per process.

Each setting is one line of the `Settings` dataclass: `name: type = env(VARIABLE, parser,
default)`. `current()` is the process's settings, parsed once; secrets are `Secret`s, masked
wherever they are printed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from app.imaging.limits import Limits

T = TypeVar("T")
Parser = Callable[[str, str], T]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A secret setting: repr, str and format show a mask; `reveal()` gives the value.

    `Secret.in_file(path)` is embedded mode's generated key, read (and made, the first time)
    when first revealed, so that reading the settings writes nothing.
    """

    MASK = "**********"
    __slots__ = ("_file", "_value")

    def __init__(self, value: str = "") -> None:
        self._value: str | None = value
        self._file: Path | None = None

    @classmethod
    def in_file(cls, path: Path) -> Secret:
        secret = cls()
        secret._value, secret._file = None, path
        return secret

    def reveal(self) -> str:
        if self._value is None:
            assert self._file is not None
            self._value = _embedded_secret(self._file)
        return self._value

    def __bool__(self) -> bool:
        return self._file is not None or bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.reveal() == other.reveal()

    def __hash__(self) -> int:
        return hash(self.reveal())

    def __str__(self) -> str:
        return self.MASK if self else ""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"


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


def _colour(name: str, raw: str) -> str:
    text = raw.lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise SettingsError(f"{name} must be a colour like #ffffff, got {raw!r}")
    return raw


def _secret(parse: Parser[str]) -> Parser[Secret]:
    def parse_secret(name: str, raw: str) -> Secret:
        try:
            return Secret(parse(name, raw))
        except SettingsError as exc:  # the message names the variable, never its value
            raise SettingsError(str(exc).replace(raw, Secret.MASK)) from None

    return parse_secret


def env(var: str, parse: Parser[T], default: T) -> T:
    """One setting: its environment variable, the parser of its text, its typed default.

    Declared as a field default, `port: int = env("IMAGEPIPE_PORT", _port, 8000)`, so the
    variable, the validation, the type and the default are written once, in one line.
    """
    return field(default=default, metadata={_VAR: var, _PARSE: parse})


_VAR, _PARSE = "env", "parse"
_MiB = 1024 * 1024
# The URL schemes whose backend is local: no server, no credentials.
EMBEDDED_SCHEMES = frozenset({"file", "sqlite", "filesystem", "memory"})
_BLOB_SCHEMES = ("file", "s3")


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: `name: type = env(VARIABLE, parser, default)`.

    The defaults are the embedded mode. Read them with `current()`, not by building one.
    """

    data_dir: str = env("IMAGEPIPE_DATA_DIR", _text, "./var")
    originals_url: str = env(
        "IMAGEPIPE_ORIGINALS_URL", _url(_BLOB_SCHEMES), "file://./var/originals"
    )
    variants_url: str = env("IMAGEPIPE_VARIANTS_URL", _url(_BLOB_SCHEMES), "file://./var/variants")
    catalog_url: str = env(
        "IMAGEPIPE_CATALOG_URL", _url(("sqlite", "dynamodb")), "sqlite:///./var/catalog.db"
    )
    broker_url: str = env(
        "CELERY_BROKER_URL", _url(("filesystem", "sqs", "memory")), "filesystem://"
    )
    host: str = env("IMAGEPIPE_HOST", _text, "127.0.0.1")
    port: int = env("IMAGEPIPE_PORT", _port, 8000)
    flower_port: int = env("FLOWER_PORT", _port, 5555)
    # Beyond loopback, Flower needs flower_basic_auth.
    flower_host: str = env("FLOWER_HOST", _text, "127.0.0.1")
    flower_basic_auth: Secret = env("FLOWER_BASIC_AUTH", _secret(_basic_auth), Secret(""))
    # Empty: http://{host}:{port}.
    public_base_url: str = env("IMAGEPIPE_PUBLIC_BASE_URL", _http_base, "")
    # Empty: embedded mode generates one under data_dir (on first use); AWS mode must set it.
    secret_key: Secret = env("IMAGEPIPE_SECRET_KEY", _secret(_text), Secret(""))
    max_upload_bytes: int = env("IMAGEPIPE_MAX_UPLOAD_BYTES", _positive_int, Limits.max_bytes)
    upload_ttl_seconds: int = env("IMAGEPIPE_UPLOAD_TTL_SECONDS", _positive_int, 900)
    token_ttl_seconds: int = env("IMAGEPIPE_TOKEN_TTL_SECONDS", _positive_int, 3600)
    # Bomb guards and the decode sandbox: app/imaging/limits.py's defaults, whose reasons
    # docs/robustness.md gives.
    max_pixels: int = env("IMAGEPIPE_MAX_PIXELS", _positive_int, Limits.max_pixels)
    max_total_pixels: int = env(
        "IMAGEPIPE_MAX_TOTAL_PIXELS", _positive_int, Limits.max_total_pixels
    )
    max_frames: int = env("IMAGEPIPE_MAX_FRAMES", _positive_int, Limits.max_frames)
    max_jpeg_scans: int = env("IMAGEPIPE_MAX_JPEG_SCANS", _positive_int, Limits.max_scans)
    max_metadata_bytes: int = env(
        "IMAGEPIPE_MAX_METADATA_BYTES", _positive_int, Limits.max_metadata_bytes
    )
    max_exif_bytes: int = env("IMAGEPIPE_MAX_EXIF_BYTES", _positive_int, Limits.max_exif_bytes)
    # probe + decode + master resize, in a child process; and the address space it may add.
    decode_seconds: int = env(
        "IMAGEPIPE_DECODE_SECONDS", _positive_int, round(Limits.decode_seconds)
    )
    decode_memory_mb: int = env(
        "IMAGEPIPE_DECODE_MEMORY_MB", _positive_int, Limits.decode_memory_bytes // _MiB
    )
    task_time_limit: int = env("IMAGEPIPE_TASK_TIME_LIMIT", _positive_int, 120)
    worker_memory_mb: int = env("IMAGEPIPE_WORKER_MEMORY_MB", _positive_int, 1536)
    # Requeued then even while the queue still holds work.
    stuck_after_seconds: int = env("IMAGEPIPE_STUCK_AFTER_SECONDS", _positive_int, 600)
    # A running stage renews its record within this; a record idle longer while the queue is
    # empty lost its message (a killed worker) and is requeued (tasks/reconcile.py).
    lease_seconds: int = env("IMAGEPIPE_LEASE_SECONDS", _int_range(3, 3600), 30)
    # Queued tasks past which POST /upload answers 503.
    max_backlog: int = env("IMAGEPIPE_MAX_BACKLOG", _positive_int, 1000)
    # One user's unfinished uploads past which they get 429.
    max_open_per_user: int = env("IMAGEPIPE_MAX_OPEN_PER_USER", _positive_int, 100)
    jpeg_background: str = env("IMAGEPIPE_JPEG_BACKGROUND", _colour, "#ffffff")
    avif: bool = env("IMAGEPIPE_AVIF", _bool, True)
    # Delivery: private images need a signed, expiring URL (docs/delivery.md).
    private_images: bool = env("IMAGEPIPE_PRIVATE_IMAGES", _bool, True)
    url_signing_keys: UrlSigningKeys = env(
        "IMAGEPIPE_URL_SIGNING_KEYS", _signing_keys, UrlSigningKeys()
    )
    signed_url_ttl_seconds: int = env("IMAGEPIPE_SIGNED_URL_TTL_SECONDS", _positive_int, 3600)
    # The owner's download links to an original.
    original_link_ttl_seconds: int = env("IMAGEPIPE_ORIGINAL_LINK_TTL_SECONDS", _positive_int, 300)
    # Set: erasures invalidate the image's paths there.
    cloudfront_distribution_id: str = env("IMAGEPIPE_CLOUDFRONT_DISTRIBUTION_ID", _text, "")
    # Set (with the key path) to sign CloudFront URLs instead.
    cloudfront_key_id: str = env("IMAGEPIPE_CLOUDFRONT_KEY_ID", _cloudfront_key_id, "")
    cloudfront_private_key_path: str = env("IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH", _text, "")
    # Abuse limits (docs/security.md): rates as "N/minute", "N/hour"...; counters in memory
    # (one process) or a shared store such as redis://host:6379.
    rate_limit_storage_uri: str = env("IMAGEPIPE_RATE_LIMIT_STORAGE_URI", _text, "memory://")
    upload_rate_per_user: str = env("IMAGEPIPE_UPLOAD_RATE_PER_USER", _rate, "60/minute")
    upload_rate_per_ip: str = env("IMAGEPIPE_UPLOAD_RATE_PER_IP", _rate, "300/minute")
    auth_failure_rate: str = env("IMAGEPIPE_AUTH_FAILURE_RATE", _rate, "20/minute")
    quota_bytes_per_user: int = env("IMAGEPIPE_QUOTA_BYTES_PER_USER", _positive_int, 10 * 1000**3)
    quota_uploads_per_day: int = env("IMAGEPIPE_QUOTA_UPLOADS_PER_DAY", _positive_int, 1000)
    # Retention (app/retention.py; docs/gdpr.md). 0 keeps originals for as long as the image.
    original_retention_days: int = env("IMAGEPIPE_ORIGINAL_RETENTION_DAYS", _int_range(0, 36500), 0)
    abandoned_upload_seconds: int = env("IMAGEPIPE_ABANDONED_UPLOAD_SECONDS", _positive_int, 86400)
    failed_retention_days: int = env("IMAGEPIPE_FAILED_RETENTION_DAYS", _positive_int, 30)
    # Cognito User Pool (docs/security.md): set the pool to verify its tokens instead of the
    # local issuer's (app/auth/tokens.py). The region defaults to AWS_REGION.
    cognito_region: str = env("IMAGEPIPE_COGNITO_REGION", _text, "")
    cognito_user_pool_id: str = env("IMAGEPIPE_COGNITO_USER_POOL_ID", _text, "")
    cognito_client_id: str = env("IMAGEPIPE_COGNITO_CLIENT_ID", _text, "")
    # The page's sign-in (web/signin.js): the pool's hosted UI, e.g.
    # https://<prefix>.auth.<region>.amazoncognito.com. The issuer is set only for a stand-in;
    # empty: https://cognito-idp.<region>.amazonaws.com/<pool>.
    cognito_hosted_ui_url: str = env("IMAGEPIPE_COGNITO_HOSTED_UI_URL", _http_base, "")
    cognito_issuer_url: str = env("IMAGEPIPE_COGNITO_ISSUER_URL", _http_base, "")
    # AWS (docs/aws.md). Region and endpoint: None is boto3's own configuration chain.
    aws_region: str | None = env("AWS_REGION", _text, None)
    aws_endpoint_url: str | None = env("AWS_ENDPOINT_URL", _http_base, None)
    # S3 ObjectCreated events: a queue name or URL.
    uploads_queue: str = env("IMAGEPIPE_UPLOADS_QUEUE", _text, "uploads")
    task_queue: str = env("IMAGEPIPE_TASK_QUEUE", _text, "imagepipe")  # Celery's queue
    # Set: Celery uses only this predefined SQS queue.
    task_queue_url: str | None = env("IMAGEPIPE_TASK_QUEUE_URL", _http_base, None)
    sqs_wait_seconds: int = env("IMAGEPIPE_SQS_WAIT_SECONDS", _int_range(0, 20), 10)
    # Then SQS moves a message to the queue's DLQ.
    sqs_max_receives: int = env("IMAGEPIPE_SQS_MAX_RECEIVES", _int_range(1, 1000), 5)
    # Celery events over SNS on SQS, so Flower sees workers.
    events_fanout: bool = env("IMAGEPIPE_EVENTS_FANOUT", _bool, True)
    # Celery task events, what Flower shows: on AWS ~20 SNS publishes and ~22 SQS requests an
    # image (docs/capacity.md); off in a production that watches CloudWatch instead.
    task_events: bool = env("IMAGEPIPE_TASK_EVENTS", _bool, True)
    multipart_threshold_bytes: int = env(
        "IMAGEPIPE_MULTIPART_THRESHOLD_BYTES", _positive_int, 15 * 1000 * 1000
    )
    multipart_part_bytes: int = env(
        "IMAGEPIPE_MULTIPART_PART_BYTES", _int_range(5 * _MiB, 5 * 1024**3), 8 * _MiB
    )
    # Logs and metrics (docs/operations.md). The log format "json" or "text"; empty: text when
    # embedded, JSON otherwise. The worker's metrics port 0 means none.
    log_format: str = env("IMAGEPIPE_LOG_FORMAT", _log_format, "")
    metrics_token: Secret = env("IMAGEPIPE_METRICS_TOKEN", _secret(_text), Secret(""))
    worker_metrics_host: str = env("IMAGEPIPE_WORKER_METRICS_HOST", _text, "127.0.0.1")
    worker_metrics_port: int = env("IMAGEPIPE_WORKER_METRICS_PORT", _int_range(0, 65535), 0)

    def __post_init__(self) -> None:
        # Built by hand (tests, benchmarks), a secret may be given as plain text.
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type == "Secret" and not isinstance(value, Secret):
                object.__setattr__(self, item.name, Secret(value))
        if not self.public_base_url:
            object.__setattr__(self, "public_base_url", f"http://{self.host}:{self.port}")

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
            raw = env_.get(item.metadata[_VAR], "")
            if raw != "":
                values[item.name] = item.metadata[_PARSE](item.metadata[_VAR], raw)
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
    return tuple(item.metadata[_VAR] for item in fields(Settings))


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


def _embedded_secret(path: Path) -> str:
    """Embedded mode keeps one generated key under the data folder; AWS mode must be given one."""
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
