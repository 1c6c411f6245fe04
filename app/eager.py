"""Which variants processing makes up front (IMAGEPIPE_EAGER_VARIANTS); the rest on first request.

A variant costs an S3 PUT whether or not anyone ever asks for it, and PUTs are most of the
processing bill (docs/capacity.md). Variants few clients are served are better made the first
time one is asked for (app/rendering.py): the record still lists them, so manifests and the API
describe every variant, and delivery renders a missing one on its first request.

The setting is a comma-separated list of terms applied left to right, each adding to the set
or, with a leading ``-``, taking away from it:

* ``all``: every variant name;
* a format (``avif``, ``webp``, ``jpg``), a tier (``standard``, ``low`` for 160-lq, ``weak`` for
  640-lq, ``phone`` for 720), a stem (``640``, ``160-lq``) or a name (``640.jpg``);
* ``{tier or stem}.{format}``, e.g. ``standard.jpg`` or ``weak.webp``.

The default, ``all,-jpg,-webp``, makes every AVIF up front and leaves the JPEGs and the WebPs
past the first paint to their first request: on bench.network's view pattern AVIF is 93% of
views, WebP 6% (browsers without AVIF) and JPEG 1%; 10 of 19 variants. The first paint
(``160-lq.webp``, ``640.webp``) is made up front whatever the setting says: it is what the 300 ms
first-usable-variant target measures, and while the image is processing it stands in for the
variants not made yet (app/stand_in.py), so a browser that takes WebP causes no render then.
With IMAGEPIPE_AVIF=false, WebP is what most browsers are served, so the default is then
``all,-jpg,-weak.webp``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from app.setting_types import SettingsError
from edge.variants import LOW, LQ_WIDTH, PHONE, all_names, parse_name

DEFAULT: Final = "all,-jpg,-webp"
DEFAULT_WITHOUT_AVIF: Final = "all,-jpg,-weak.webp"
# Tiers as app/imaging/plan.py names them (edge/variants.py calls 160-lq and 640-lq both "low").
_TIERS: Final = ("standard", "low", "weak", "phone")


def plan_tier(name: str) -> str:
    """The plan's tier of a variant name: standard, low (160-lq), weak (640-lq) or phone."""
    variant = parse_name(name)
    if variant is None:
        raise ValueError(f"{name!r} is not a variant name")
    if variant.tier == LOW:
        return "low" if variant.width == LQ_WIDTH else "weak"
    return "phone" if variant.tier == PHONE else "standard"


def _labels(name: str) -> set[str]:
    """Every term that selects ``name``."""
    stem, fmt = name.rsplit(".", 1)
    tier = plan_tier(name)
    return {"all", name, stem, fmt, tier, f"{tier}.{fmt}", f"{stem}.{fmt}"}


@dataclass(frozen=True)
class EagerVariants:
    """The variant names made up front; ``name in eager`` asks about one.

    ``follows_avif``: a default, which Settings turns into the default for IMAGEPIPE_AVIF
    (:func:`default_for`); a set parsed from the setting keeps what it says.
    """

    names: frozenset[str]
    text: str = DEFAULT
    follows_avif: bool = False

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __str__(self) -> str:
        return self.text


def parse_eager(text: str) -> EagerVariants:
    """The set ``text`` names (module docstring); ValueError on a term that names nothing."""
    universe = all_names()
    chosen: set[str] = set()
    for raw in text.split(","):
        term = raw.strip().lower()
        drop = term.startswith("-")
        term = term.lstrip("-+").strip()
        matched = {n for n in universe if term in _labels(n)}
        if not term or not matched:
            raise ValueError(
                f"{raw.strip()!r} names no variant (use all, a format, a tier of {_TIERS}, "
                "a stem such as 640 or 160-lq, or a name such as 640.jpg)"
            )
        chosen = chosen - matched if drop else chosen | matched
    return EagerVariants(frozenset(chosen), text.strip())


def as_eager_variants(name: str, raw: str) -> EagerVariants:
    """The settings parser of IMAGEPIPE_EAGER_VARIANTS."""
    try:
        return parse_eager(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


EAGER_DEFAULT: Final = replace(parse_eager(DEFAULT), follows_avif=True)
EAGER_DEFAULT_WITHOUT_AVIF: Final = replace(parse_eager(DEFAULT_WITHOUT_AVIF), follows_avif=True)


def default_for(eager: EagerVariants, *, avif: bool) -> EagerVariants:
    """``eager``, or when it is a default, the default for ``avif`` (module docstring)."""
    if eager.follows_avif:
        return EAGER_DEFAULT if avif else EAGER_DEFAULT_WITHOUT_AVIF
    return eager
