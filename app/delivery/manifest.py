"""The responsive manifest: the ``delivery`` block of ``GET /image/{id}``.

Everything a web or native client needs to show the image without an SDK or guessing:
``srcset`` per format (the REAL pixel width of each variant: a 1000 px original's
``1280`` slot is listed as ``1000w``), a suggested ``sizes``, ``<picture>`` sources
(AVIF, then WebP, then the JPEG ``img`` fallback) also rendered as HTML, the intrinsic
size, each variant's byte size, the inline placeholder and the dominant colour. Every URL
carries the image's signature grant when images are private. ``sizes`` comes from
``edge.widths``, the module the edge picks widths with, so a browser choosing from ``srcset``
lands on the slot the negotiated ``auto_url`` would serve (a DPR 2 phone: 640, not 1280).

Only what is stored or left to a first request (IMAGEPIPE_EAGER_VARIANTS; its byte size is
``null``, as the record keeps none) is listed: while AVIF is still encoding, the block has the
WebPs and the JPEGs left to their first request, and gains AVIF with ``ready``.
The low tiers are not in any ``srcset`` (a browser would pick them for small layouts
whatever the network): ``160-lq`` is listed under ``low`` and ``640-lq`` under ``weak``, and
the negotiated ``auto_url`` serves them to weak networks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Any, Final

from app.catalog import ImageRecord, VariantRecord
from app.delivery.signing import Grant
from app.imaging.plan import LOW_TIER, WEAK_TIER
from app.timestamps import iso_utc
from edge.variants import CONTENT_TYPES, FORMATS, STANDARD, parse_name
from edge.widths import suggested_sizes

# The <img> fallback's src for clients without srcset: the first slot at least this wide.
FALLBACK_SLOT: Final = 640
# <source> formats, best first; the last format present becomes the <img> itself.
_PICTURE_ORDER: Final = FORMATS  # ("avif", "webp", "jpg")


UrlFor = Callable[[str, str | None], str]


def delivery_block(
    record: ImageRecord, delivery_url: UrlFor, grant: Grant
) -> dict[str, Any] | None:
    """The manifest of ``record``, or ``None`` until it has a standard variant.

    ``delivery_url(image_id, name=None)`` gives a variant's canonical URL (the auto URL
    without a name); ``grant`` is appended to every URL.
    """
    standard = [v for v in record.variants if v.tier == STANDARD]
    if not standard:
        return None

    def url(name: str | None = None, query: str = "") -> str:
        return grant.apply(f"{delivery_url(record.image_id, name)}{query}")

    by_format = {
        fmt: sorted((v for v in standard if v.format == fmt), key=lambda v: v.width)
        for fmt in FORMATS
    }
    srcsets = {
        fmt: ", ".join(f"{url(v.name)} {v.width}w" for v in variants)
        for fmt, variants in by_format.items()
        if variants
    }
    largest = max(standard, key=lambda v: (v.width, v.height))
    width, height = largest.width, largest.height
    sizes = suggested_sizes(width)
    picture = _picture(srcsets, by_format, url, sizes=sizes, width=width, height=height)
    placeholder = record.placeholder
    max_slot = max(_slot(v) for v in standard)
    return {
        "width": width,
        "height": height,
        "sizes": sizes,
        "srcset": srcsets,
        "picture": picture,
        "html": picture_html(picture, None if placeholder is None else placeholder.dominant_color),
        "bytes": {v.name: None if v.on_request else v.bytes for v in record.variants},
        "low": {v.format: url(v.name) for v in record.variants if v.tier == LOW_TIER},
        "weak": {v.format: url(v.name) for v in record.variants if v.tier == WEAK_TIER},
        "auto_url": url(None, f"?mw={max_slot}"),
        "placeholder": None
        if placeholder is None
        else {"data_uri": placeholder.data_uri, "thumbhash": placeholder.thumbhash},
        "dominant_color": None if placeholder is None else placeholder.dominant_color,
        "expires_at": None if grant.expires is None else iso_utc(grant.expires),
    }


def _picture(
    srcsets: dict[str, str],
    by_format: dict[str, list[VariantRecord]],
    url: Callable[[str], str],
    *,
    sizes: str,
    width: int,
    height: int,
) -> dict[str, Any]:
    present = [fmt for fmt in _PICTURE_ORDER if fmt in srcsets]
    img_format = present[-1]  # JPEG once stored; before that the most basic format there is
    fallback = _fallback(by_format[img_format])
    return {
        "sources": [
            {"type": CONTENT_TYPES[fmt], "srcset": srcsets[fmt], "sizes": sizes}
            for fmt in present[:-1]
        ],
        "img": {
            "src": url(fallback.name),
            "srcset": srcsets[img_format],
            "sizes": sizes,
            "width": width,
            "height": height,
        },
    }


def _fallback(variants: Sequence[VariantRecord]) -> VariantRecord:
    return next((v for v in variants if _slot(v) >= FALLBACK_SLOT), variants[-1])


def _slot(variant: VariantRecord) -> int:
    known = parse_name(variant.name)
    return variant.width if known is None else known.width


def picture_html(picture: dict[str, Any], background: str | None) -> str:
    """``<picture>`` markup; the dominant colour shows until the image arrives. Set ``alt``."""

    def attrs(values: dict[str, Any]) -> str:
        return " ".join(f'{k}="{escape(str(v), quote=True)}"' for k, v in values.items())

    sources = "".join(f"<source {attrs(source)}>" for source in picture["sources"])
    img = dict(picture["img"]) | {"alt": "", "loading": "lazy", "decoding": "async"}
    if background is not None:
        img["style"] = f"background-color:{background}"
    return f"<picture>{sources}<img {attrs(img)}></picture>"
