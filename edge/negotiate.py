"""Pick one stored variant for one request.

Pure function of the request headers, the image's available variants and an optional
explicit choice; shared by the Lambda@Edge viewer-request handler and the app's local
delivery route, so both answer the same request with the same variant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from edge.variants import FORMATS, LOW, LQ_WIDTH, PHONE, STANDARD, Variant
from edge.widths import (
    DEFAULT_WIDTH,
    HIGH_DPR,
    device_pixel_ratio,
    needed_width,
    number,
    pick_slot,
)

NetworkClass = Literal["slow-2g", "2g", "3g", "4g", "unknown"]

BUDGET_SECONDS: Final = 2.0  # a weak-network variant should arrive in about this long

# Network Information API effective-type table, worst first: a class applies when the
# RTT is at least its minimum OR the downlink (Mbps) at most its maximum; else 4g.
_ECT_THRESHOLDS: Final[tuple[tuple[NetworkClass, float, float], ...]] = (
    ("slow-2g", 2000.0, 0.05),
    ("2g", 1400.0, 0.07),
    ("3g", 270.0, 0.7),
)
_ECT_VALUES: Final[Mapping[str, NetworkClass]] = MappingProxyType(
    {"slow-2g": "slow-2g", "2g": "2g", "3g": "3g", "4g": "4g"}
)


@dataclass(frozen=True, slots=True)
class _Policy:
    steps_down: int  # rungs below the layout's slot when byte sizes are unknown
    lq_allowed: bool  # may the width rule reach the 160-lq tier
    budget: int | None  # bytes; used instead of steps_down when sizes are known


def _budget(max_downlink_mbps: float) -> int:
    return int(max_downlink_mbps * 1_000_000 / 8 * BUDGET_SECONDS)


_MAX_DOWNLINK: Final = {name: downlink for name, _rtt, downlink in _ECT_THRESHOLDS}
_POLICIES: Final[Mapping[str, _Policy]] = MappingProxyType(
    {
        "4g": _Policy(steps_down=0, lq_allowed=False, budget=None),
        "unknown": _Policy(steps_down=0, lq_allowed=False, budget=None),
        "3g": _Policy(steps_down=1, lq_allowed=False, budget=_budget(_MAX_DOWNLINK["3g"])),
        "2g": _Policy(steps_down=2, lq_allowed=True, budget=_budget(_MAX_DOWNLINK["2g"])),
        "slow-2g": _Policy(steps_down=3, lq_allowed=True, budget=_budget(_MAX_DOWNLINK["slow-2g"])),
    }
)

# Media ranges that make a format acceptable, most specific first. Modern formats count
# only when named (a wildcard says nothing about AVIF/WebP decoding); JPEG is the
# baseline every image client decodes, so wildcards imply it.
_FORMAT_RANGES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "avif": ("image/avif",),
        "webp": ("image/webp",),
        "jpg": ("image/jpeg", "image/jpg", "image/pjpeg", "image/*", "*/*"),
    }
)
_QVALUE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

# WebKit 16.0-16.3 advertises image/avif but only decodes it on macOS 13+ (and has
# gaps on iOS until 16.4). Desktop Safari's UA freezes the macOS version, so the
# Safari version is all we can test. Every iOS browser uses the system WebKit.
_AVIF_BROKEN_UA: Final = (
    re.compile(r"\bVersion/16\.[0-3](?![0-9]).*\bSafari/"),
    re.compile(r"\bCPU (?:iPhone )?OS 16_[0-3](?![0-9])"),
)

_EXPLICIT_KEYS: Final = frozenset({"w", "f"})
_FORMAT_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {"avif": "avif", "webp": "webp", "jpg": "jpg", "jpeg": "jpg"}
)
_EXPLICIT_WIDTH: Final = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True, slots=True)
class Choice:
    """The negotiated variant plus the request facts that led to it."""

    variant: Variant
    network_class: NetworkClass
    save_data: bool = False

    @property
    def format(self) -> str:
        return self.variant.format

    @property
    def width(self) -> int:
        return self.variant.width

    def cache_key(self) -> str:
        """``{format}.{stem}.{class}``, e.g. ``avif.640.3g`` or ``webp.160-lq.2g``.

        At most 3 formats x 6 stems x 5 classes, plus ``avif.720`` on 4g and unknown: a
        small fixed set that CloudFront can use as its only header cache key, whatever the
        raw headers looked like.
        """
        return f"{self.variant.format}.{self.variant.stem}.{self.network_class}"


def negotiate(
    headers: Mapping[str, str],
    available: Sequence[Variant],
    explicit: Mapping[str, str] | None = None,
    layout_width: int | None = None,
) -> Choice:
    """Choose the variant of ``available`` to serve for a request.

    ``headers`` are matched case-insensitively; malformed hint values are ignored.

    Format: the highest-weighted of AVIF, WebP, JPEG in ``Accept`` that the image has,
    ties going to AVIF, then WebP, then JPEG. ``q=0`` refuses a format. AVIF/WebP count
    only when named; ``image/*`` and ``*/*`` (or no ``Accept``) only mean JPEG. Safari
    and iOS 16.0-16.3 never get AVIF (they advertise it but cannot always decode it).

    Width (device px, ``edge.widths``): ``Sec-CH-Width``, else ``layout_width`` x DPR,
    else ``Sec-CH-Viewport-Width`` x DPR (legacy ``Width``/``Viewport-Width``/``DPR`` too);
    DPR is capped at 2 and defaults to 1; with no width at all, 1280. On 4g or an unknown
    network without Save-Data, the slot is the closest that serves the width: at DPR >= 2
    a slot serves up to 35% more than its own width and the phone slot (``720.avif``) is a
    candidate too (a 360 CSS px phone's 720 px get 720.avif, or 640 in WebP and JPEG);
    below DPR 2 it must cover it. Otherwise (a weak class, Save-Data) the width is snapped
    UP to the smallest standard slot that covers it, and that slot is lowered for the
    network class. Never above the largest available slot (no upscaling).

    =========  ==========================  ==========  ==========================
    class      slot rule (sizes unknown)   160-lq ok   byte budget (sizes known)
    =========  ==========================  ==========  ==========================
    4g         the nearest serving slot    no          none
    unknown    the nearest serving slot    no          none
    3g         one slot smaller            no          175 000 (0.7 Mbps, 2 s)
    2g         two rungs smaller           yes         17 500 (0.07 Mbps, 2 s)
    slow-2g    three rungs smaller         yes         12 500 (0.05 Mbps, 2 s)
    =========  ==========================  ==========  ==========================

    Rungs are ``160-lq`` then the standard slots, so 2g reaches the lq tier only when
    the layout needs <= 640 px, and slow-2g when it needs <= 1280 px. When every
    candidate's ``bytes`` is known, the step rule is replaced by: the largest rung at
    or below the snapped slot whose bytes fit the budget (else the lightest allowed).
    On a weak network (3g, 2g, slow-2g) or with Save-Data, a standard slot that has a
    weak-network rendition (``640-lq``: same width, lower quality) is served as that:
    a phone on 3g gets ``640-lq``, not ``640``.
    ``ECT`` gives the class; without it, ``RTT``/``Downlink`` are classified with the
    spec thresholds above; with neither, the class is ``unknown``.

    Save-Data (``Save-Data: on``): the lightest variant that still fits the layout,
    i.e. one rung below the snapped slot -- the next smaller slot, or the 160-lq tier
    when the snapped slot is already the smallest -- and never more than the network
    class alone would give.

    Explicit choice (``explicit``; only ``w`` and ``f``): ``w`` replaces every width
    rule (hints, network class and Save-Data) and is snapped up to an available slot,
    capped at the largest; ``f`` (avif|webp|jpg|jpeg) is served if the image has it,
    else the format is negotiated. An unknown key, a non-positive or non-integer
    ``w``, or an unknown ``f`` raises ``ValueError`` naming the key.
    """
    want_width, want_format = _parse_explicit(explicit or {})
    if not available:
        raise ValueError("no variants available")
    lowered = {name.lower(): value for name, value in headers.items()}
    network = _network_class(lowered)
    save_data = lowered.get("save-data", "").strip().lower() == "on"
    formats = {v.format for v in available}
    fmt = want_format if want_format in formats else _choose_format(lowered, formats)
    rungs, first_standard = _ladder(available, fmt)
    if want_width is not None:
        return Choice(rungs[_snap(rungs, first_standard, want_width)], network, save_data)
    needed = needed_width(lowered, layout_width)
    want = DEFAULT_WIDTH if needed is None else needed
    policy = _POLICIES[network]
    if policy.steps_down == 0 and not save_data:
        # Full strength: the closest slot the screen's density allows (edge.widths), the
        # phone slot among them at DPR >= 2.
        dpr = device_pixel_ratio(lowered)
        slots = _full_strength_slots(available, fmt, rungs[first_standard:], dpr)
        if slots:
            return Choice(slots[pick_slot([r.width for r in slots], want, dpr)], network)
        return Choice(rungs[-1], network)
    # The weak-network ladder starts from the slot that covers the need.
    top = _snap(rungs, first_standard, want)
    chosen = rungs[_lower_for_network(rungs, first_standard, top, policy, save_data)]
    return Choice(_weak_rendition(available, chosen), network, save_data)


# --- explicit options -------------------------------------------------------------


def _parse_explicit(explicit: Mapping[str, str]) -> tuple[int | None, str | None]:
    unknown = sorted(set(explicit) - _EXPLICIT_KEYS)
    if unknown:
        raise ValueError(f"unknown option {unknown[0][:32]!r}")
    width = explicit.get("w")
    fmt = explicit.get("f")
    if width is not None and (not _EXPLICIT_WIDTH.fullmatch(width) or int(width) <= 0):
        raise ValueError(f"option 'w' must be a positive integer, got {width[:32]!r}")
    if fmt is not None and fmt.lower() not in _FORMAT_ALIASES:
        raise ValueError(f"option 'f' must be one of avif, webp, jpg, got {fmt[:32]!r}")
    return (
        None if width is None else int(width),
        None if fmt is None else _FORMAT_ALIASES[fmt.lower()],
    )


# --- format -----------------------------------------------------------------------


def _choose_format(headers: Mapping[str, str], formats: set[str]) -> str:
    weights = _format_weights(headers.get("accept", ""))
    if any(p.search(headers.get("user-agent", "")) for p in _AVIF_BROKEN_UA):
        weights["avif"] = 0.0
    candidates = [f for f in FORMATS if f in formats and weights[f] > 0]
    if not candidates:
        return "jpg" if "jpg" in formats else next(f for f in FORMATS if f in formats)
    # Highest q wins; on a tie the earlier (lighter) format of FORMATS.
    return max(candidates, key=lambda f: (weights[f], -FORMATS.index(f)))


def _format_weights(accept: str) -> dict[str, float]:
    if not accept.strip():
        return {"avif": 0.0, "webp": 0.0, "jpg": 1.0}
    ranges = _parse_accept(accept)
    return {fmt: _weight(ranges, _FORMAT_RANGES[fmt]) for fmt in FORMATS}


def _weight(ranges: Mapping[str, float], candidates: tuple[str, ...]) -> float:
    return next((ranges[r] for r in candidates if r in ranges), 0.0)


def _parse_accept(accept: str) -> dict[str, float]:
    """``{media-range: q}``; entries with a malformed weight are dropped."""
    ranges: dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        q = _qvalue(params)
        if media and q is not None:
            # A range listed twice keeps its lower weight: refusing anywhere refuses.
            ranges[media] = min(q, ranges.get(media, q))
    return ranges


def _qvalue(params: str) -> float | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else None
    return 1.0


# --- width and network ------------------------------------------------------------


def _network_class(headers: Mapping[str, str]) -> NetworkClass:
    ect = _ECT_VALUES.get(headers.get("ect", "").strip().lower())
    if ect is not None:
        return ect
    rtt = number(headers.get("rtt"), allow_zero=True)
    downlink = number(headers.get("downlink"), allow_zero=True)
    if rtt is None and downlink is None:
        return "unknown"
    for name, min_rtt, max_downlink in _ECT_THRESHOLDS:
        if (rtt is not None and rtt >= min_rtt) or (
            downlink is not None and downlink <= max_downlink
        ):
            return name
    return "4g"


# --- the ladder -------------------------------------------------------------------


def _ladder(available: Sequence[Variant], fmt: str) -> tuple[list[Variant], int]:
    """Rungs of one format, lightest first: the 160-lq variant (if any), then the
    standard slots by width. Also returns the index of the first standard rung."""
    low = [v for v in available if v.format == fmt and v.tier == LOW and v.width == LQ_WIDTH][:1]
    standard = sorted(
        (v for v in available if v.format == fmt and v.tier == STANDARD),
        key=lambda v: v.width,
    )
    return [*low, *standard], len(low)


def _full_strength_slots(
    available: Sequence[Variant], fmt: str, standard: Sequence[Variant], dpr: float
) -> list[Variant]:
    """The standard rungs, with the phone slot of ``fmt`` (``720.avif``) at DPR >= 2."""
    if dpr < HIGH_DPR:
        return list(standard)
    phone = [v for v in available if v.format == fmt and v.tier == PHONE]
    return sorted([*standard, *phone[:1]], key=lambda v: v.width)


def _weak_rendition(available: Sequence[Variant], chosen: Variant) -> Variant:
    """The low-tier variant of the same slot and format (640-lq for 640), else ``chosen``."""
    if chosen.tier != STANDARD:
        return chosen
    same = (
        v
        for v in available
        if v.tier == LOW and v.format == chosen.format and v.width == chosen.width
    )
    return next(same, chosen)


def _snap(rungs: Sequence[Variant], first_standard: int, needed: float) -> int:
    """The smallest standard rung covering ``needed``, else the largest (no upscale)."""
    return next(
        (i for i in range(first_standard, len(rungs)) if rungs[i].width >= needed),
        len(rungs) - 1,
    )


def _lower_for_network(
    rungs: Sequence[Variant], first_standard: int, top: int, policy: _Policy, save_data: bool
) -> int:
    upper = max(0, top - 1) if save_data else top
    floor = min(0 if policy.lq_allowed else first_standard, upper)
    sizes = [r.bytes for r in rungs[floor : upper + 1]]
    if policy.budget is not None and all(size is not None for size in sizes):
        return _fit_budget(rungs, floor, upper, policy.budget)
    return min(upper, max(floor, top - policy.steps_down))


def _fit_budget(rungs: Sequence[Variant], floor: int, upper: int, budget: int) -> int:
    fitting = (i for i in range(upper, floor - 1, -1) if (rungs[i].bytes or 0) <= budget)
    return next(fitting, floor)
