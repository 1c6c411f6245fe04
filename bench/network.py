"""Delivered bytes per network class: a phone showing a 12-photo gallery.

Run: ``python -m bench.network [--update-docs]``.

The phone is 360 CSS px wide at DPR 2 and shows each photo at full width (360 CSS px, so
720 device px). For each network class (slow-2g, 2g, 3g, 4g) it sends what Chrome on
Android sends -- its image ``Accept``, ``Sec-CH-DPR: 2``, ``Sec-CH-Viewport-Width: 360``
and ``ECT`` -- and asks ``edge.negotiate`` which variant to serve, from the variants the
real pipeline made (``load_master`` + ``plan_variants`` + ``render``), with sizes unknown,
exactly as the viewer-request and the embedded route do. It compares:

* **edge**: the negotiated variants;
* **originals**: the original JPEG files;
* **fixed**: one policy for everyone, WebP quality 80 at 720 px wide.

Quality is SSIM (``app.imaging.quality.ssim``, luminance) against the 720 px reference: the
decoded master resized to 720 px wide with Lanczos, not compressed. A served variant of
another width is resized (Lanczos) to the reference's exact size first -- a 640 px variant
is upscaled to 720, as the phone's browser would do.

Transfer time model (:func:`transfer_seconds`): one new HTTP/2 connection to the CDN (two
round trips: TCP, then TLS 1.3), one more round trip for the requests (multiplexed), then
every byte at the class's downlink. Slow start and loss are ignored, so real times are
longer; the comparison between policies is what matters. Network figures are Chromium's
typical RTT and downlink for each effective connection type (the values Blink reports
through the Network Information API for that class).

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
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
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
from app.imaging.quality import ssim
from app.imaging.resize import resize_to_width
from edge.negotiate import negotiate
from edge.variants import parse_name

ROOT: Final = Path(__file__).resolve().parents[1]
CORPUS: Final = ROOT.parent / "shared" / "corpus" / "photos"
FIXTURES: Final = ROOT / "tests" / "fixtures"
RESULTS: Final = ROOT / "bench" / "results"
CACHE: Final = RESULTS / "network"
DOCS: Final = ROOT / "docs" / "delivery.md"
DOCS_START: Final = "<!-- bench:network:start -->"
DOCS_END: Final = "<!-- bench:network:end -->"

GALLERY_SIZE: Final = 12
VIEWPORT_CSS: Final = 360
DPR: Final = 2
REFERENCE_WIDTH: Final = VIEWPORT_CSS * DPR  # 720 device px: the fixed policy's width too
FIXED_QUALITY: Final = 80
PLACEHOLDER_BUDGET: Final = 8000  # bytes, for the whole gallery ("under 8 KB", SI kilobytes)

# Targets, on 3g.
TARGET_CLASS: Final = "3g"
TARGET_VS_ORIGINALS: Final = 10.0  # at least this many times fewer bytes
TARGET_VS_FIXED: Final = 0.30  # at least this fraction fewer bytes
TARGET_SSIM: Final = 0.92

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


def gallery(count: int = GALLERY_SIZE) -> tuple[list[Path], str]:
    """The ``count`` largest JPEG photos of the corpus (by pixels), or the fixtures.

    Where the corpus is absent, the committed fixture photos are used, repeated in turn
    to make ``count`` (the source says so).
    """
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["format"] == "JPEG"]
        rows.sort(key=lambda r: (-int(r["width"]) * int(r["height"]), r["filename"]))
        photos = [CORPUS / r["filename"] for r in rows[:count]]
        if len(photos) == count:
            return photos, f"corpus: the {count} largest JPEG photos of ../shared/corpus/photos"
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
    digest.update(f"fixed-webp-q{FIXED_QUALITY}-{REFERENCE_WIDTH}".encode())
    return digest.hexdigest()[:16]


def prepare(path: Path, settings: EncodeSettings, cache: Path = CACHE) -> Prepared:
    folder = cache / f"{path.stem[:48]}-{_cache_key(path, settings)}"
    meta = folder / "meta.json"
    if meta.exists():
        return Prepared(**json.loads(meta.read_text()), folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    master = load_master(path, Limits())
    variant_bytes = {}
    for item in render(master.image, plan_variants(master.width), settings):
        (folder / item.spec.name).write_bytes(item.data)
        variant_bytes[item.spec.name] = len(item.data)
    reference = resize_to_width(master.image, REFERENCE_WIDTH).convert("RGB")
    reference.save(folder / "reference.png")
    fixed = encode(reference, "webp", FIXED_QUALITY, settings)
    (folder / "fixed.webp").write_bytes(fixed)
    prepared = Prepared(
        name=path.name,
        original_bytes=path.stat().st_size,
        width=master.width,
        height=master.height,
        variant_bytes=variant_bytes,
        fixed_bytes=len(fixed),
        placeholder_bytes=make_placeholder(master.image).inline_bytes,
        folder=folder,
    )
    values = {k: v for k, v in asdict(prepared).items() if k != "folder"}
    meta.write_text(json.dumps(values, indent=2) + "\n")
    return prepared


def similarity(photo: Prepared, name: str) -> float:
    """SSIM of a stored image against the 720 px reference, at the reference's size."""
    reference = photo.image("reference.png")
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


def run_network(photos: Sequence[Prepared], network: Network) -> Row:
    headers = phone_headers(network)
    chosen = [choose(p.variant_bytes, headers) for p in photos]
    edge_bytes = sum(p.variant_bytes[name] for p, name in zip(photos, chosen, strict=True))
    originals = sum(p.original_bytes for p in photos)
    fixed = sum(p.fixed_bytes for p in photos)
    scores = [similarity(p, name) for p, name in zip(photos, chosen, strict=True)]
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
    )


def targets(row: Row, placeholder_total: int) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for the 3g row and the placeholders."""
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
            f"all {GALLERY_SIZE} placeholders together < {PLACEHOLDER_BUDGET} bytes",
            placeholder_total < PLACEHOLDER_BUDGET,
            f"{placeholder_total} bytes",
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


def report(rows: Sequence[Row], photos: Sequence[Prepared], source: str) -> str:
    placeholder_total = sum(p.placeholder_bytes for p in photos)
    target_row = next(r for r in rows if r.network == TARGET_CLASS)
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
        "served variant resized (Lanczos) to that size first: a 640 px variant is upscaled.",
        f"Machine: {info['cpu']} ({info['cpus']} CPUs), {info['platform']}, Python "
        f"{info['python']}, Pillow {info['pillow']} (libavif {info['libavif']}, libwebp "
        f"{info['libwebp']}, libjpeg-turbo {info['libjpeg']}).",
        "",
        table(rows),
        "",
        f"Placeholders (ThumbHash + data URI + colour, inline): {placeholder_total} bytes for "
        f"{len(photos)} photos (largest {max(p.placeholder_bytes for p in photos)}).",
        "",
        "| target | met | measured |",
        "| --- | --- | --- |",
    ]
    for name, met, measured in targets(target_row, placeholder_total):
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/delivery.md")
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help=f"also re-encode the {TARGET_CLASS} rung at other AVIF qualities and speeds",
    )
    args = parser.parse_args(argv)
    settings = EncodeSettings()
    paths, source = gallery()
    started = time.perf_counter()
    photos = []
    for number, path in enumerate(paths, start=1):
        photos.append(prepare(path, settings))
        print(f"[{number}/{len(paths)}] {path.name}", file=sys.stderr, flush=True)
    rows = [run_network(photos, network) for network in NETWORKS]
    text = report(rows, photos, source)
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
