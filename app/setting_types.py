"""What each setting is made of: the parsers that read a variable's text (each raising
SettingsError that names the variable, never a secret's value), `Secret`, and `env()`, which
declares a setting in one line of app/settings.py's `Settings`."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

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


def as_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def as_port(name: str, raw: str) -> int:
    value = as_positive_int(name, raw)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def as_url(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
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


def as_http_base(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"{name} must be an http(s) URL such as http://127.0.0.1:8000; got {raw!r}"
        )
    return raw.rstrip("/")


def as_bool(name: str, raw: str) -> bool:
    table = {"1": True, "true": True, "yes": True, "on": True}
    table |= {"0": False, "false": False, "no": False, "off": False}
    try:
        return table[raw.strip().lower()]
    except KeyError:
        raise SettingsError(f"{name} must be true or false, got {raw!r}") from None


def as_text(name: str, raw: str) -> str:
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


def as_signing_keys(name: str, raw: str) -> UrlSigningKeys:
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


def as_cloudfront_key_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.isascii() or not value.isalnum() or len(value) > 64:
        raise SettingsError(f"{name} must be a CloudFront public key ID such as K2JCJMDEHXQW5F")
    return value


def as_int_range(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
        return value

    return parse


def as_basic_auth(name: str, raw: str) -> str:
    for pair in raw.split(","):
        user, sep, password = pair.partition(":")
        if not sep or not user or len(password) < 12:
            raise SettingsError(
                f"{name} must be user:password pairs, comma-separated, each password at "
                "least 12 characters"
            )
    return raw


def as_choice(*choices: str) -> Callable[[str, str], str]:
    """One of ``choices``, case and surrounding spaces ignored."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise SettingsError(f"{name} must be {' or '.join(choices)}, got {raw!r}")
        return value

    return parse


def as_rate(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a rate such as 60/minute, got {raw!r}") from None
    return raw


def as_colour(name: str, raw: str) -> str:
    text = raw.lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise SettingsError(f"{name} must be a colour like #ffffff, got {raw!r}")
    return raw


def as_secret(parse: Parser[str]) -> Parser[Secret]:
    def parse_secret(name: str, raw: str) -> Secret:
        try:
            return Secret(parse(name, raw))
        except SettingsError as exc:  # the message names the variable, never its value
            raise SettingsError(str(exc).replace(raw, Secret.MASK)) from None

    return parse_secret


def env(var: str, parse: Parser[T], default: T) -> T:
    """One setting: its environment variable, the parser of its text, its typed default.

    Declared as a field default, `port: int = env("IMAGEPIPE_PORT", as_port, 8000)`, so the
    variable, the validation, the type and the default are written once, in one line.
    """
    return field(default=default, metadata={VAR: var, PARSE: parse})


VAR, PARSE = "env", "parse"


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
