"""What every delivery URL signer shares: the grant, its expiry, the refusal and the Protocol.

Kept apart from the adapters (app/delivery/signing.py, app/delivery/cloudfront.py) so that each
adapter imports this module and the factory imports the adapters, with no import circle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Protocol
from urllib.parse import urlencode

from edge.variants import PUBLIC_PREFIX

Clock = Callable[[], float]

EXPIRY_STEP_SECONDS: Final = 300


class InvalidSignature(Exception):
    """A delivery URL that does not grant access; the message says why (safe to show)."""


@dataclass(frozen=True)
class Grant:
    """The signature parameters for every URL of one image (none for a public image)."""

    params: tuple[tuple[str, str], ...] = ()
    expires: int | None = None  # epoch seconds; None when the grant never expires

    def apply(self, url: str) -> str:
        """``url`` with the grant's parameters appended (after any query it already has)."""
        if not self.params:
            return url
        return f"{url}{'&' if '?' in url else '?'}{self.query}"

    @cached_property
    def query(self) -> str:
        """The encoded parameters, once per grant: an image view applies it to every URL."""
        return urlencode(self.params)


class UrlSigner(Protocol):
    def grant(self, image_id: str) -> Grant:
        """Parameters that let the holder fetch every URL of ``image_id`` until they expire."""
        ...

    def verify(self, image_id: str, url: str, params: Mapping[str, str]) -> None:
        """Raise :class:`InvalidSignature` unless ``params`` grant access to ``url``.

        ``url`` is the public URL as requested (``{public base}{path}[?query]``) without
        the signature parameters; ``params`` are the request's signature parameters.
        """
        ...


def expiry(now: float, ttl_seconds: int, step: int = EXPIRY_STEP_SECONDS) -> int:
    """``now + ttl`` rounded up to a multiple of ``step`` (or of ``ttl`` when shorter).

    A URL is therefore valid for at least ``ttl`` and at most ``ttl + step`` seconds, and
    identical for every request within one step.
    """
    step = max(1, min(step, ttl_seconds))
    return int(math.ceil((now + ttl_seconds) / step) * step)


def image_scope(image_id: str) -> str:
    """The path a grant covers: ``/i/{id}``, the prefix of every URL of the image."""
    return f"{PUBLIC_PREFIX}{image_id}"
