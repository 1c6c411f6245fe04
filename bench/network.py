"""Delivered bytes per network class: a phone showing a 12-photo gallery.

Run: ``python -m bench.network [--update-docs] [--sensitivity] [--corpus DIR] [--skip N]
[--formats F,...] [--count N]``.

The phone is 360 CSS px wide at DPR 2 and shows each photo at full width (360 CSS px, so
720 device px). For each network class (slow-2g, 2g, 3g, 4g) it sends what Chrome on
Android sends -- its image ``Accept``, ``Sec-CH-DPR: 2``, ``Sec-CH-Viewport-Width: 360``
and ``ECT`` -- and asks ``edge.negotiate`` which variant to serve, from the variants the
real pipeline made (``load_master`` + ``plan_variants`` + ``render``), with sizes unknown,
exactly as the viewer-request and the embedded route do. It compares:

* **edge**: the negotiated variants;
* **originals**: the original JPEG files;
* **fixed**: one policy for everyone, WebP quality 80 at 720 px wide (libwebp's default
  effort, method 4, whatever the pipeline's own WebP setting).

Quality is SSIM (``quality.measures.ssim``, luminance) against the 720 px reference: the
decoded master resized to 720 px wide with Lanczos, not compressed. A served variant of
another width is resized (Lanczos) to the reference's exact size first -- a 640 px variant
is upscaled to 720, as the phone's browser would do.

Transfer time model (:func:`transfer_seconds`): one new HTTP/2 connection to the CDN (two
round trips: TCP, then TLS 1.3), one more round trip for the requests (multiplexed), then
every byte at the class's downlink. Slow start and loss are ignored, so real times are
longer; the comparison between policies is what matters. Network figures are Chromium's
typical RTT and downlink for each effective connection type (the values Blink reports
through the Network Information API for that class).

Wi-Fi and desktops (:data:`WIFI_SCREENS`, no network hints): the phone on Wi-Fi and 1280 /
1920 CSS px screens at DPR 1 and 2, each against what the rule before ``edge.widths``
served (:func:`choose_before`), SSIM at the displayed width (at most 1920, the widest
stored). Cost (:func:`width_costs`): bytes per view over the stated :data:`VIEW_PATTERN`,
and for each stored stem its encodes (CPU measured one at a time), PUTs and a year of S3
storage per image against the egress it saves per view (list prices with their source and
date below).

Variants are cached under ``bench/results/network/`` (git-ignored), keyed by the photo's
bytes and the encode settings; results go to ``bench/results/network.json``, and
``--update-docs`` rewrites the Benchmark section of ``docs/delivery.md``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import mean
from typing import Any, Final

import PIL
from PIL import Image, features

from app.imaging.encode import EncodeSettings, encode
from app.imaging.limits import Limits
from app.imaging.pipeline import load_master, render
from app.imaging.placeholder import make_placeholder
from app.imaging.plan import plan_variants
from app.imaging.resize import resize_to_width
from edge.negotiate import negotiate
from edge.variants import parse_name
from quality.measures import ssim

ROOT: Final = Path(__file__).resolve().parents[1]
CORPUS: Final = ROOT.parent / "shared" / "corpus" / "photos"
FIXTURES: Final = ROOT / "tests" / "fixtures"
RESULTS: Final = ROOT / "bench" / "results"
CACHE: Final = RESULTS / "network"
DOCS: Final = ROOT / "docs" / "delivery.md"
DOCS_START: Final = "<!-- bench:network:start -->"
DOCS_END: Final = "<!-- bench:network:end -->"

GALLERY_SIZE: Final = 12
GALLERY_FORMATS: Final = ("JPEG",)  # MANIFEST.tsv's format names: what the settings were tuned on
# Displayed widths with a reference (device px): the phone, a 1280 and a 1920 screen. Wider
# screens are compared at 1920, the widest width the platform stores (as master and slot).
REFERENCE_WIDTHS: Final = (720, 1280, 1920)
VIEWPORT_CSS: Final = 360
DPR: Final = 2
REFERENCE_WIDTH: Final = VIEWPORT_CSS * DPR  # 720 device px: the fixed policy's width too
FIXED_QUALITY: Final = 80
# The fixed policy's WebP effort: libwebp's (and Pillow's) default, method 4. Not the pipeline's
# own setting (method 2, chosen because few clients are served WebP here): the policy compared
# with is a service that serves WebP to everyone, and its encoder settings should not move
# when ours do (they did: method 2 made it 3.7% larger and 0.003 lower in SSIM).
FIXED_WEBP_METHOD: Final = 4
PLACEHOLDER_BUDGET: Final = 8000  # bytes, for the whole gallery ("under 8 KB", SI kilobytes)

# Targets, on 3g.
TARGET_CLASS: Final = "3g"
TARGET_VS_ORIGINALS: Final = 10.0  # at least this many times fewer bytes
TARGET_VS_FIXED: Final = 0.30  # at least this fraction fewer bytes
TARGET_SSIM: Final = 0.92
# On 4g: at most this share of the fixed policy's bytes, at a mean SSIM no lower than its.
TARGET_4G_CLASS: Final = "4g"
TARGET_4G_SHARE: Final = 0.70
# Wi-Fi and desktop: no more bytes than before, SSIM against the displayed size at least this.
TARGET_WIFI_SSIM: Final = 0.95

# Chrome 13x on Android: its Accept for <img> requests, and a UA (read for the Safari rule).
CHROME_ANDROID_ACCEPT: Final = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
CHROME_ANDROID_UA: Final = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/136.0.0.0 Mobile Safari/537.36"
)


@dataclass(frozen=True)
class Network:
    """One effective connection type with Chromium's typical RTT and downlink for it."""

    name: str
    rtt_ms: float
    downlink_mbps: float


# Blink's kTypicalHttpRttEffectiveConnectionType / kTypicalDownlinkMbpsEffectiveConnectionType
# (network_state_notifier.cc): what navigator.connection reports for each class.
NETWORKS: Final = (
    Network("slow-2g", 3600.0, 0.040),
    Network("2g", 1800.0, 0.075),
    Network("3g", 450.0, 0.400),
    Network("4g", 175.0, 1.600),
)
HANDSHAKE_RTTS: Final = 2  # TCP + TLS 1.3 to the CDN


def transfer_seconds(
    total_bytes: int, network: Network, handshake_rtts: int = HANDSHAKE_RTTS
) -> float:
    """Simulated time to fetch ``total_bytes`` over one new, multiplexed HTTP/2 connection."""
    if total_bytes < 0:
        raise ValueError("total_bytes must not be negative")
    round_trips = handshake_rtts + 1  # the connection, then the requests
    return round_trips * network.rtt_ms / 1000 + total_bytes * 8 / (network.downlink_mbps * 1e6)


def phone_headers(network: Network) -> dict[str, str]:
    """The request headers of Chrome on a 360 px DPR 2 phone on ``network``."""
    return {
        "Accept": CHROME_ANDROID_ACCEPT,
        "User-Agent": CHROME_ANDROID_UA,
        "Sec-CH-DPR": str(DPR),
        "Sec-CH-Viewport-Width": str(VIEWPORT_CSS),
        "ECT": network.name,
    }


def choose(names: Iterable[str], headers: Mapping[str, str]) -> str:
    """The variant ``edge.negotiate`` serves from ``names``, sizes unknown (as at the edge)."""
    available = [variant for variant in map(parse_name, names) if variant is not None]
    return negotiate(headers, available).variant.name


def reduction(policy_bytes: int, baseline_bytes: int) -> tuple[float, float]:
    """(times fewer bytes, fraction fewer bytes) of ``policy_bytes`` against a baseline."""
    if policy_bytes <= 0 or baseline_bytes <= 0:
        raise ValueError("byte counts must be positive")
    return baseline_bytes / policy_bytes, 1 - policy_bytes / baseline_bytes


# --- the photos ------------------------------------------------------------------------


def gallery(
    count: int = GALLERY_SIZE,
    corpus: Path = CORPUS,
    *,
    skip: int = 0,
    formats: Collection[str] = GALLERY_FORMATS,
) -> tuple[list[Path], str]:
    """The ``count`` largest photos of the corpus (by pixels) in ``formats`` (MANIFEST.tsv's
    names) after the ``skip`` largest, or the fixtures. Photos the settings were not tuned on:
    the JPEGs after the 12 largest, or the phones' own HEIFs and AVIFs (``formats``).

    Where the corpus is absent, or has too few JPEGs, the committed fixture photos are used,
    repeated in turn to make ``count`` (the source says so).
    """
    manifest = corpus / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["format"] in formats]
        rows.sort(key=lambda r: (-int(r["width"]) * int(r["height"]), r["filename"]))
        photos = [corpus / r["filename"] for r in rows[skip : skip + count]]
        if len(photos) == count:
            where = "../shared/corpus/photos" if corpus == CORPUS else str(corpus)
            after = f" after the {skip} largest" if skip else ""
            kinds = "/".join(formats)
            return photos, f"corpus: the {count} largest {kinds} photos{after} of {where}"
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".jpg", ".png"))
    photos = [fixtures[i % len(fixtures)] for i in range(count)]
    return photos, f"fixtures: {len(fixtures)} photos of tests/fixtures, repeated to make {count}"


@dataclass
class Prepared:
    """One photo, made once and cached: variant sizes, the fixed policy, the reference."""

    name: str
    original_bytes: int
    width: int
    height: int
    variant_bytes: dict[str, int]
    fixed_bytes: int
    placeholder_bytes: int
    variant_cpu: dict[str, float]  # CPU-s of each variant's resize + encode, one at a time
    folder: Path = field(repr=False)

    def image(self, name: str) -> Image.Image:
        with Image.open(self.folder / name) as img:
            img.load()
            return img


def _cache_key(path: Path, settings: EncodeSettings) -> str:
    digest = hashlib.sha256(path.read_bytes())
    digest.update(repr(settings).encode())
    for source in sorted((ROOT / "app" / "imaging").glob("*.py")):  # the code made them too
        digest.update(source.read_bytes())
    digest.update((ROOT / "edge" / "variants.py").read_bytes())
    digest.update(f"fixed-webp-q{FIXED_QUALITY}-m{FIXED_WEBP_METHOD}-{REFERENCE_WIDTH}".encode())
    digest.update(f"{REFERENCE_WIDTHS}".encode())
    digest.update(b"cpu-per-variant")  # meta.json holds variant_cpu
    return digest.hexdigest()[:16]


def prepare(path: Path, settings: EncodeSettings, cache: Path = CACHE) -> Prepared:
    folder = cache / f"{path.stem[:48]}-{_cache_key(path, settings)}"
    meta = folder / "meta.json"
    if meta.exists():
        return Prepared(**json.loads(meta.read_text()), folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    master = load_master(path, Limits())
    variant_bytes, variant_cpu = {}, {}
    # One encode at a time (the same bytes as side by side), so each one's CPU can be read.
    started = _cpu_seconds()
    for item in render(master.image, plan_variants(master.width), replace(settings, threads=1)):
        variant_cpu[item.spec.name] = round(_cpu_seconds() - started, 4)
        (folder / item.spec.name).write_bytes(item.data)
        variant_bytes[item.spec.name] = len(item.data)
        started = _cpu_seconds()
    reference = resize_to_width(master.image, REFERENCE_WIDTH).convert("RGB")
    reference.save(folder / "reference.png")
    for width in REFERENCE_WIDTHS:
        if width != REFERENCE_WIDTH:
            shown = resize_to_width(master.image, min(width, master.width)).convert("RGB")
            shown.save(folder / f"reference-{width}.png")
    fixed = encode(
        reference, "webp", FIXED_QUALITY, replace(settings, webp_method=FIXED_WEBP_METHOD)
    )
    (folder / "fixed.webp").write_bytes(fixed)
    prepared = Prepared(
        name=path.name,
        original_bytes=path.stat().st_size,
        width=master.width,
        height=master.height,
        variant_bytes=variant_bytes,
        fixed_bytes=len(fixed),
        placeholder_bytes=make_placeholder(master.image).inline_bytes,
        variant_cpu=variant_cpu,
        folder=folder,
    )
    values = {k: v for k, v in asdict(prepared).items() if k != "folder"}
    meta.write_text(json.dumps(values, indent=2) + "\n")
    return prepared


def _cpu_seconds() -> float:
    """CPU time of this process, every thread (SVT-AV1 starts threads of its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_SIMILARITY: dict[tuple[Path, str, int], float] = {}


def similarity(photo: Prepared, name: str, shown: int = REFERENCE_WIDTH) -> float:
    """SSIM of a stored image against the reference of a displayed width (720 px unless
    ``shown`` is another of :data:`REFERENCE_WIDTHS`), at the reference's size."""
    key = (photo.folder, name, shown)
    if key not in _SIMILARITY:
        _SIMILARITY[key] = _similarity(photo, name, shown)
    return _SIMILARITY[key]


def _similarity(photo: Prepared, name: str, shown: int) -> float:
    file = "reference.png" if shown == REFERENCE_WIDTH else f"reference-{shown}.png"
    reference = photo.image(file)
    served = photo.image(name).convert("RGB")
    if served.size != reference.size:
        served = served.resize(reference.size, Image.Resampling.LANCZOS)
    return ssim(reference, served)


# --- the benchmark ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    network: str
    rtt_ms: float
    downlink_mbps: float
    served: dict[str, int]  # variant stem.format -> how many photos got it
    edge_bytes: int
    edge_seconds: float
    original_bytes: int
    original_seconds: float
    fixed_bytes: int
    fixed_seconds: float
    times_fewer_than_originals: float
    fraction_fewer_than_fixed: float
    ssim_mean: float
    ssim_min: float
    fixed_ssim_mean: float


def run_network(photos: Sequence[Prepared], network: Network) -> Row:
    headers = phone_headers(network)
    chosen = [choose(p.variant_bytes, headers) for p in photos]
    edge_bytes = sum(p.variant_bytes[name] for p, name in zip(photos, chosen, strict=True))
    originals = sum(p.original_bytes for p in photos)
    fixed = sum(p.fixed_bytes for p in photos)
    scores = [similarity(p, name) for p, name in zip(photos, chosen, strict=True)]
    fixed_scores = [similarity(p, "fixed.webp") for p in photos]
    served: dict[str, int] = {}
    for name in chosen:
        served[name] = served.get(name, 0) + 1
    return Row(
        network=network.name,
        rtt_ms=network.rtt_ms,
        downlink_mbps=network.downlink_mbps,
        served=dict(sorted(served.items())),
        edge_bytes=edge_bytes,
        edge_seconds=transfer_seconds(edge_bytes, network),
        original_bytes=originals,
        original_seconds=transfer_seconds(originals, network),
        fixed_bytes=fixed,
        fixed_seconds=transfer_seconds(fixed, network),
        times_fewer_than_originals=reduction(edge_bytes, originals)[0],
        fraction_fewer_than_fixed=reduction(edge_bytes, fixed)[1],
        ssim_mean=mean(scores),
        ssim_min=min(scores),
        fixed_ssim_mean=mean(fixed_scores),
    )


def targets(
    row: Row, placeholder_total: int, photos: int = GALLERY_SIZE
) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for the 3g row and the placeholders (the budget is the 12-photo
    gallery's, in proportion for another number of ``photos``)."""
    budget = PLACEHOLDER_BUDGET * photos // GALLERY_SIZE
    return [
        (
            f"{TARGET_CLASS}: >= {TARGET_VS_ORIGINALS:g}x fewer bytes than the originals",
            row.times_fewer_than_originals >= TARGET_VS_ORIGINALS,
            f"{row.times_fewer_than_originals:.1f}x",
        ),
        (
            f"{TARGET_CLASS}: >= {TARGET_VS_FIXED:.0%} fewer bytes than WebP q80 at 720 px",
            row.fraction_fewer_than_fixed >= TARGET_VS_FIXED,
            f"{row.fraction_fewer_than_fixed:.1%} fewer",
        ),
        (
            f"{TARGET_CLASS}: SSIM >= {TARGET_SSIM} against the 720 px reference (every photo)",
            row.ssim_min >= TARGET_SSIM,
            f"min {row.ssim_min:.4f}, mean {row.ssim_mean:.4f}",
        ),
        (
            f"all {photos} placeholders together < {budget} bytes",
            placeholder_total < budget,
            f"{placeholder_total} bytes",
        ),
    ]


def targets_4g(row: Row) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for the 4g row: bytes against the fixed policy, and SSIM."""
    share = 1 - row.fraction_fewer_than_fixed
    return [
        (
            f"{row.network}: <= {TARGET_4G_SHARE:.0%} of WebP q80 at 720 px's bytes",
            share <= TARGET_4G_SHARE,
            f"{share:.1%}",
        ),
        (
            f"{row.network}: mean SSIM >= the fixed policy's ({row.fixed_ssim_mean:.4f})",
            row.ssim_mean >= row.fixed_ssim_mean,
            f"{row.ssim_mean:.4f}",
        ),
    ]


def _kb(n: int) -> str:
    return f"{n / 1000:,.0f} kB" if n >= 10_000 else f"{n / 1000:.1f} kB"


def table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table (also readable in a terminal)."""
    head = (
        "| class | RTT / downlink | edge serves | edge bytes | edge time | originals | "
        "originals time | WebP q80 720 | fixed time | vs originals | bytes vs fixed | "
        "SSIM mean / min |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        served = ", ".join(f"{n}× {name}" for name, n in r.served.items())
        lines.append(
            f"| {r.network} | {r.rtt_ms:.0f} ms / {r.downlink_mbps:g} Mbps | {served} | "
            f"{_kb(r.edge_bytes)} | {r.edge_seconds:.1f} s | {_kb(r.original_bytes)} | "
            f"{r.original_seconds:.0f} s | {_kb(r.fixed_bytes)} | {r.fixed_seconds:.1f} s | "
            f"{r.times_fewer_than_originals:.0f}× fewer | {-r.fraction_fewer_than_fixed:+.0%} | "
            f"{r.ssim_mean:.3f} / {r.ssim_min:.3f} |"
        )
    return "\n".join(lines)


# --- Wi-Fi, desktops, and what each width costs -------------------------------------------

CHROME_DESKTOP_UA: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/136.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Screen:
    """A browser showing each photo at its full viewport width; ``network`` None = no hints."""

    name: str
    css_width: int
    dpr: float
    network: str | None = None
    mobile: bool = False
    accept: str = CHROME_ANDROID_ACCEPT
    user_agent: str | None = None  # None: Chrome's, for a phone or a desktop

    @property
    def shown(self) -> int:
        """The displayed width compared against: device px, at most 1920 (the widest stored)."""
        return min(round(self.css_width * self.dpr), REFERENCE_WIDTHS[-1])

    def headers(self) -> dict[str, str]:
        chrome = CHROME_ANDROID_UA if self.mobile else CHROME_DESKTOP_UA
        headers = {
            "Accept": self.accept,
            "User-Agent": self.user_agent or chrome,
            "Sec-CH-DPR": f"{self.dpr:g}",
            "Sec-CH-Viewport-Width": str(self.css_width),
        }
        if self.network is not None:
            headers["ECT"] = self.network
        return headers


# Wi-Fi and desktops send no network hints (Chrome sends ECT only when asked; Wi-Fi usually
# classifies as 4g when it does): the phone on Wi-Fi, then the four desktops.
WIFI_SCREENS: Final = (
    Screen("phone, Wi-Fi (no ECT)", VIEWPORT_CSS, DPR, None, mobile=True),
    Screen("desktop 1280 @1", 1280, 1.0),
    Screen("desktop 1920 @1", 1920, 1.0),
    Screen("laptop 1280 @2", 1280, 2.0),
    Screen("desktop 1920 @2", 1920, 2.0),
)


def choose_before(names: Iterable[str], screen: Screen) -> str:
    """What the edge served before edge.widths: DPR capped at 3, then the slot that covers
    the need; weak networks and Save-Data unchanged (the same step-down as now)."""
    if screen.network not in (None, "4g"):
        return choose(names, screen.headers())
    available = [variant for variant in map(parse_name, names) if variant is not None]
    need = math.ceil(screen.css_width * min(screen.dpr, 3.0))
    return negotiate(screen.headers(), available, {"w": str(need)}).variant.name


@dataclass(frozen=True)
class ScreenRow:
    screen: str
    shown: int
    served: dict[str, int]
    edge_bytes: int
    before_served: dict[str, int]
    before_bytes: int
    ssim_mean: float
    ssim_min: float
    before_ssim_mean: float


def _counts(names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def run_screen(photos: Sequence[Prepared], screen: Screen) -> ScreenRow:
    now = [choose(p.variant_bytes, screen.headers()) for p in photos]
    before = [choose_before(p.variant_bytes, screen) for p in photos]
    scores = [similarity(p, n, screen.shown) for p, n in zip(photos, now, strict=True)]
    before_scores = [similarity(p, n, screen.shown) for p, n in zip(photos, before, strict=True)]
    return ScreenRow(
        screen=screen.name,
        shown=screen.shown,
        served=_counts(now),
        edge_bytes=sum(p.variant_bytes[n] for p, n in zip(photos, now, strict=True)),
        before_served=_counts(before),
        before_bytes=sum(p.variant_bytes[n] for p, n in zip(photos, before, strict=True)),
        ssim_mean=mean(scores),
        ssim_min=min(scores),
        before_ssim_mean=mean(before_scores),
    )


def screen_table(rows: Sequence[ScreenRow]) -> str:
    head = (
        "| screen (no network hints) | compared at | edge serves | edge bytes | before "
        "(snap up, DPR cap 3) | before bytes | bytes vs before | SSIM mean / min | "
        "SSIM before |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        served = ", ".join(f"{n}× {name}" for name, n in r.served.items())
        before = ", ".join(f"{n}× {name}" for name, n in r.before_served.items())
        change = r.edge_bytes / r.before_bytes - 1
        lines.append(
            f"| {r.screen} | {r.shown} px | {served} | {_kb(r.edge_bytes)} | {before} | "
            f"{_kb(r.before_bytes)} | {change:+.0%} | {r.ssim_mean:.3f} / {r.ssim_min:.3f} | "
            f"{r.before_ssim_mean:.3f} |"
        )
    return "\n".join(lines)


def wifi_targets(rows: Sequence[ScreenRow]) -> list[tuple[str, bool, str]]:
    """No more bytes than before and SSIM >= 0.95 at the displayed size, for the desktops."""
    desktops = [r for r in rows if not r.screen.startswith("phone")]
    worst = min(r.ssim_min for r in desktops)
    ratio = max(r.edge_bytes / r.before_bytes for r in desktops)
    return [
        ("Wi-Fi/desktop: bytes <= before, every screen", ratio <= 1.0, f"max {ratio:.2f}x"),
        (
            f"Wi-Fi/desktop: SSIM >= {TARGET_WIFI_SSIM} at the displayed size (every photo)",
            worst >= TARGET_WIFI_SSIM,
            f"min {worst:.4f}",
        ),
    ]


# The stated view pattern, the one docs/capacity.md prices delivery with: who looks at a photo,
# with what share of all views. An assumption to change, not a measurement: phones take most
# views, most of them on 4g or Wi-Fi.
NETWORK_BY_NAME: Final = {n.name: n for n in NETWORKS}
SCREEN_SHARES: Final = (
    (Screen("phone 360 @2, 4g", VIEWPORT_CSS, DPR, "4g", mobile=True), 0.40),
    (Screen("phone 360 @2, Wi-Fi", VIEWPORT_CSS, DPR, None, mobile=True), 0.25),
    (Screen("phone 360 @2, 3g", VIEWPORT_CSS, DPR, "3g", mobile=True), 0.08),
    (Screen("phone 360 @2, 2g", VIEWPORT_CSS, DPR, "2g", mobile=True), 0.02),
    (Screen("phone 360 @2, slow-2g", VIEWPORT_CSS, DPR, "slow-2g", mobile=True), 0.01),
    (WIFI_SCREENS[1], 0.10),
    (WIFI_SCREENS[2], 0.08),
    (WIFI_SCREENS[3], 0.04),
    (WIFI_SCREENS[4], 0.02),
)


@dataclass(frozen=True)
class Browser:
    """What a share of views is viewed with; ``accept`` None = Chrome's (AVIF)."""

    name: str
    share: float
    accept: str | None = None
    user_agent: str | None = None


# Which formats views accept. The user agents are phones' on every screen: edge.negotiate reads
# one only for Safari 16.0-16.3, which these are not. Browsers without Client Hints choose from the
# manifest's `srcset`, whose `sizes` lands on the slot the edge would pick from the hints
# (tests/edge/test_widths.py), so they are modelled with the hints but never with ECT: they
# send no network class, and their phones on 3g get the standard slot.
BROWSERS: Final = (
    Browser("AVIF", 0.93),
    Browser(
        "WebP only (Safari 15)",
        0.06,
        "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 15_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
    ),
    Browser(
        "JPEG only (Safari 13)",
        0.01,
        "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 13_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/13.1.2 Mobile/15E148 Safari/604.1",
    ),
)


def _viewed_with(screen: Screen, browser: Browser) -> Screen:
    if browser.accept is None:
        return screen
    return replace(
        screen,
        name=f"{screen.name}, {browser.name}",
        network=None,
        accept=browser.accept,
        user_agent=browser.user_agent,
    )


VIEW_PATTERN: Final = tuple(
    (_viewed_with(screen, browser), share * browser.share)
    for screen, share in SCREEN_SHARES
    for browser in BROWSERS
)
# Views over time, as docs/capacity.md states them: 30 in the first month, one a month after.
VIEWS_FIRST_YEAR: Final = 30 + 11


def view_shares(names: Iterable[str]) -> dict[str, float]:
    """The share of the view pattern's views each of an image's variants is served."""
    stored = list(names)
    shares: dict[str, float] = {}
    for screen, share in VIEW_PATTERN:
        name = choose(stored, screen.headers())
        shares[name] = shares.get(name, 0.0) + share
    return shares


# AWS list prices, us-east-1 / United States, read 2026-11-29 from
# https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB; PUT, COPY, POST, LIST) and
# https://aws.amazon.com/cloudfront/pricing/ (data transfer out to the internet, first 10 TB).
S3_STORAGE_PER_GB_MONTH: Final = 0.023
S3_PUT_PER_1000: Final = 0.005
CLOUDFRONT_EGRESS_PER_GB: Final = 0.085
STORAGE_MONTHS: Final = 12  # a stored width is paid for a year before it is judged
# A CPU-second of encoding, as docs/capacity.md prices compute: Fargate Spot, $0.01240 per
# vCPU-hour plus 2 GB at $0.00136 per GB-hour, at 85% CPU efficiency and 1.5x tasks over need.
COMPUTE_PER_CPU_SECOND: Final = (0.01240 + 2 * 0.00136) / 3600 / 0.85 * 1.5


@dataclass(frozen=True)
class WidthCost:
    stem: str
    share_of_views: float  # of the view pattern, served by this stem
    stored_bytes: int  # mean per image, every format
    objects: int  # per image (one PUT each)
    cpu_seconds: float  # mean per image: resizing and encoding it, every format
    keep_dollars: float  # per image: the encodes, the PUTs and a year of storage
    bytes_saved_per_view: float  # mean over all views: bytes without this stem minus with it
    break_even_views: float | None  # views per image in a year that pay for keeping it
    ssim_without: float | None  # its views' mean SSIM if it were dropped (their next choice)


def bytes_per_view_before(photos: Sequence[Prepared]) -> float:
    """Mean bytes served per view over the view pattern with the rule before edge.widths."""
    return sum(
        share * mean(p.variant_bytes[choose_before(p.variant_bytes, screen)] for p in photos)
        for screen, share in VIEW_PATTERN
    )


def bytes_per_view(photos: Sequence[Prepared], drop: str | None = None) -> float:
    """Mean bytes served per view over the view pattern (``drop``: a stem not stored)."""
    total = 0.0
    for screen, share in VIEW_PATTERN:
        sizes = [_served_bytes(p, screen, drop) for p in photos]
        total += share * mean(sizes)
    return total


def _names(photo: Prepared, drop: str | None) -> list[str]:
    return [n for n in photo.variant_bytes if drop is None or n.rsplit(".", 1)[0] != drop]


def _served_bytes(photo: Prepared, screen: Screen, drop: str | None) -> int:
    return photo.variant_bytes[choose(_names(photo, drop), screen.headers())]


def width_costs(photos: Sequence[Prepared]) -> list[WidthCost]:
    """The cost of keeping each stored stem against the egress it saves on the view pattern."""
    stems = sorted(
        {n.rsplit(".", 1)[0] for p in photos for n in p.variant_bytes},
        key=lambda stem: (int(stem.split("-")[0]), stem),
    )
    base = bytes_per_view(photos)
    costs = []
    for stem in stems:
        stored = [
            sum(b for n, b in p.variant_bytes.items() if n.startswith(f"{stem}.")) for p in photos
        ]
        objects = max(sum(n.startswith(f"{stem}.") for n in p.variant_bytes) for p in photos)
        cpu = mean(
            sum(s for n, s in p.variant_cpu.items() if n.startswith(f"{stem}.")) for p in photos
        )
        storage = mean(stored) / 1e9 * S3_STORAGE_PER_GB_MONTH * STORAGE_MONTHS
        keep = objects * S3_PUT_PER_1000 / 1000 + storage + cpu * COMPUTE_PER_CPU_SECOND
        saved = bytes_per_view(photos, drop=stem) - base
        share = 0.0
        without: list[float] = []
        for screen, view_share in VIEW_PATTERN:
            for photo in photos:
                if choose(photo.variant_bytes, screen.headers()).startswith(f"{stem}."):
                    share += view_share / len(photos)
                    instead = choose(_names(photo, stem), screen.headers())
                    without.append(similarity(photo, instead, _compared_at(screen)))
        per_view_dollars = saved / 1e9 * CLOUDFRONT_EGRESS_PER_GB
        costs.append(
            WidthCost(
                stem=stem,
                share_of_views=share,
                stored_bytes=round(mean(stored)),
                objects=objects,
                cpu_seconds=cpu,
                keep_dollars=keep,
                bytes_saved_per_view=saved,
                break_even_views=keep / per_view_dollars if per_view_dollars > 0 else None,
                ssim_without=mean(without) if without else None,
            )
        )
    return costs


def _compared_at(screen: Screen) -> int:
    return min(REFERENCE_WIDTHS, key=lambda width: abs(width - screen.shown))


def cost_table(costs: Sequence[WidthCost], before: float, now: float) -> str:
    lines = [
        f"View pattern: {'; '.join(f'{s.name} {share:.0%}' for s, share in SCREEN_SHARES)}; "
        "each photo at full viewport width; of each screen's views "
        f"{', '.join(f'{b.share:.0%} {b.name}' for b in BROWSERS)} (no ECT: see BROWSERS).",
        f"Bytes per view: {before / 1000:.1f} kB before, {now / 1000:.1f} kB now "
        f"({now / before - 1:+.0%}).",
        f"Prices: S3 Standard ${S3_STORAGE_PER_GB_MONTH}/GB-month and ${S3_PUT_PER_1000} per "
        f"1,000 PUTs, CloudFront egress ${CLOUDFRONT_EGRESS_PER_GB}/GB (us-east-1 / US list "
        "prices, aws.amazon.com/s3/pricing and /cloudfront/pricing, read 2026-11-29); a width "
        f"is kept {STORAGE_MONTHS} months; encoding at ${COMPUTE_PER_CPU_SECOND * 1e6:.2f} per "
        "million CPU-s (docs/capacity.md: Fargate Spot, 85% efficiency, 1.5x tasks), CPU "
        "measured one encode at a time in this run.",
        "",
        "| width | views it serves | stored per image (all formats) | encode CPU-s per image "
        "| keep: encodes + PUTs + a year of storage | egress saved per view (all views) | "
        "pays for itself at | its views without it: SSIM |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in costs:
        pays = (
            f"{c.break_even_views:,.1f} views/image-year"
            if c.break_even_views is not None
            else "never in bytes (kept for quality)"
        )
        without = "—" if c.ssim_without is None else f"{c.ssim_without:.3f}"
        lines.append(
            f"| {c.stem} | {c.share_of_views:.0%} | {_kb(c.stored_bytes)} ({c.objects} "
            f"objects) | {c.cpu_seconds:.3f} | ${c.keep_dollars * 1000:.4f} per 1,000 images | "
            f"{c.bytes_saved_per_view / 1000:+.1f} kB | {pays} | {without} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libavif": features.version("avif"),
        "libwebp": features.version("webp"),
        "libjpeg": features.version("jpg"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report(
    rows: Sequence[Row],
    photos: Sequence[Prepared],
    source: str,
    screens: Sequence[ScreenRow] = (),
    costs: str = "",
) -> str:
    placeholder_total = sum(p.placeholder_bytes for p in photos)
    target_row = next(r for r in rows if r.network == TARGET_CLASS)
    row_4g = next((r for r in rows if r.network == TARGET_4G_CLASS), None)
    info = machine()
    lines = [
        f"Gallery: {source}; {len(photos)} photos, {_kb(sum(p.original_bytes for p in photos))} "
        "of original JPEGs.",
        f"Phone: {VIEWPORT_CSS} CSS px at DPR {DPR}, each photo full width "
        f"({REFERENCE_WIDTH} device px); headers: Chrome Android Accept, Sec-CH-DPR: {DPR}, "
        f"Sec-CH-Viewport-Width: {VIEWPORT_CSS}, ECT.",
        f"Transfer model: {HANDSHAKE_RTTS + 1} round trips (TCP, TLS 1.3, requests) + bytes at "
        "the downlink; one multiplexed HTTP/2 connection, no slow start.",
        "SSIM: luminance, against the master resized to 720 px (Lanczos, uncompressed); each "
        "served variant resized (Lanczos) to that size first: a 640 px variant is upscaled. "
        f"Fixed policy: WebP q{FIXED_QUALITY} method {FIXED_WEBP_METHOD} (libwebp's default) "
        "encoded from that same 720 px frame, so it and a 720 px variant are both judged at "
        "their own size, against the frame they were made from.",
        f"Machine: {info['cpu']} ({info['cpus']} CPUs), {info['platform']}, Python "
        f"{info['python']}, Pillow {info['pillow']} (libavif {info['libavif']}, libwebp "
        f"{info['libwebp']}, libjpeg-turbo {info['libjpeg']}).",
        "",
        table(rows),
        "",
        "Wi-Fi and desktops: each photo at full viewport width, compared at the displayed "
        "width (device px, at most 1920: the widest stored).",
        "",
        screen_table(screens) if screens else "(no screens run)",
        "",
        costs,
        "",
        f"Placeholders (ThumbHash + data URI + colour, inline): {placeholder_total} bytes for "
        f"{len(photos)} photos (largest {max(p.placeholder_bytes for p in photos)}).",
        "",
        "| target | met | measured |",
        "| --- | --- | --- |",
    ]
    judged = targets(target_row, placeholder_total, len(photos))
    judged += targets_4g(row_4g) if row_4g is not None else []
    judged += wifi_targets(screens) if screens else []
    for name, met, measured in judged:
        lines.append(f"| {name} | {'yes' if met else '**no**'} | {measured} |")
    return "\n".join(lines)


def update_docs(text: str, docs: Path = DOCS) -> bool:
    """Replace the text between the benchmark markers of docs/delivery.md."""
    if not docs.exists():
        return False
    content = docs.read_text()
    start, end = content.find(DOCS_START), content.find(DOCS_END)
    if start < 0 or end < start:
        return False
    docs.write_text(f"{content[: start + len(DOCS_START)]}\n{text}\n{content[end:]}")
    return True


# (AVIF quality, speed) re-encodings of the 3g rung for --sensitivity: the pipeline's
# standard setting (quality 60) at speeds 8 and 9, and two lower qualities.
SENSITIVITY: Final = ((60, 8), (60, 9), (55, 9), (50, 9))


@dataclass(frozen=True)
class Alternative:
    quality: int
    speed: int
    total_bytes: int
    fraction_fewer_than_fixed: float
    ssim_mean: float
    ssim_min: float


def sensitivity(
    paths: Sequence[Path], photos: Sequence[Prepared], network: Network, settings: EncodeSettings
) -> list[Alternative]:
    """The rung served on ``network``, re-encoded as AVIF at each of :data:`SENSITIVITY`."""
    headers = phone_headers(network)
    sizes: dict[tuple[int, int], list[int]] = {c: [] for c in SENSITIVITY}
    scores: dict[tuple[int, int], list[float]] = {c: [] for c in SENSITIVITY}
    for path, photo in zip(paths, photos, strict=True):
        name = choose(photo.variant_bytes, headers)
        master = load_master(path, Limits())
        spec = next(s for s in plan_variants(master.width) if s.name == name)
        frame = resize_to_width(master.image, spec.width)
        reference = photo.image("reference.png")
        for quality, speed in SENSITIVITY:
            options = replace(settings, avif_speed=speed)
            data = encode(frame, "avif", quality, options)
            with Image.open(io.BytesIO(data)) as img:
                served = img.convert("RGB").resize(reference.size, Image.Resampling.LANCZOS)
            sizes[quality, speed].append(len(data))
            scores[quality, speed].append(ssim(reference, served))
    fixed = sum(p.fixed_bytes for p in photos)
    return [
        Alternative(
            quality=q,
            speed=sp,
            total_bytes=sum(sizes[q, sp]),
            fraction_fewer_than_fixed=reduction(sum(sizes[q, sp]), fixed)[1],
            ssim_mean=mean(scores[q, sp]),
            ssim_min=min(scores[q, sp]),
        )
        for q, sp in SENSITIVITY
    ]


def sensitivity_table(alternatives: Sequence[Alternative], network: str) -> str:
    lines = [
        f"Sensitivity: the {network} rung re-encoded as AVIF (quality, speed):",
        "",
        "| AVIF quality, speed | bytes | bytes vs fixed | SSIM mean / min |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| q{a.quality}, speed {a.speed} | {_kb(a.total_bytes)} | "
        f"{-a.fraction_fewer_than_fixed:+.1%} | {a.ssim_mean:.3f} / {a.ssim_min:.3f} |"
        for a in alternatives
    ]
    return "\n".join(lines)


def add_held_out_options(parser: argparse.ArgumentParser) -> None:
    """--skip, --formats and --count: a set of photos no setting was tuned on (:func:`gallery`)."""
    parser.add_argument(
        "--skip",
        type=int,
        default=0,
        help="leave out the N largest photos: the next ones, which no setting was tuned on",
    )
    parser.add_argument(
        "--formats",
        type=lambda names: tuple(names.split(",")),
        default=GALLERY_FORMATS,
        help="MANIFEST.tsv formats, comma-separated: HEIF,AVIF are the phones' own photos",
    )
    parser.add_argument("--count", type=int, default=GALLERY_SIZE, help="how many photos")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/delivery.md")
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help=f"also re-encode the {TARGET_CLASS} rung at other AVIF qualities and speeds",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="folder with the photos and their MANIFEST.tsv (default: ../shared/corpus/photos)",
    )
    add_held_out_options(parser)
    args = parser.parse_args(argv)
    held_out = args.skip or args.formats != GALLERY_FORMATS or args.count != GALLERY_SIZE
    if held_out and args.update_docs:
        parser.error("--update-docs writes the gallery's results: not with another set of photos")
    settings = EncodeSettings()
    paths, source = gallery(args.count, args.corpus, skip=args.skip, formats=args.formats)
    started = time.perf_counter()
    photos = []
    for number, path in enumerate(paths, start=1):
        photos.append(prepare(path, settings))
        print(f"[{number}/{len(paths)}] {path.name}", file=sys.stderr, flush=True)
    rows = [run_network(photos, network) for network in NETWORKS]
    screens = [run_screen(photos, screen) for screen in WIFI_SCREENS]
    costs = width_costs(photos)
    before, now = bytes_per_view_before(photos), bytes_per_view(photos)
    text = report(rows, photos, source, screens, cost_table(costs, before, now))
    alternatives: list[Alternative] = []
    if args.sensitivity:
        network = next(n for n in NETWORKS if n.name == TARGET_CLASS)
        alternatives = sensitivity(paths, photos, network, settings)
        text += "\n\n" + sensitivity_table(alternatives, TARGET_CLASS)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {
        "source": source,
        "photos": [p.name for p in photos],
        "machine": machine(),
        "rows": [asdict(r) for r in rows],
        "screens": [asdict(r) for r in screens],
        "bytes_per_view": {"before": before, "now": now},
        "width_costs": [asdict(c) for c in costs],
        "placeholder_bytes": [p.placeholder_bytes for p in photos],
        "sensitivity": [asdict(a) for a in alternatives],
        "seconds": round(time.perf_counter() - started, 1),
    }
    (RESULTS / "network.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.update_docs and not update_docs(text):
        print(f"no benchmark markers in {DOCS}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
