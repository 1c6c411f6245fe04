"""Rate-distortion of the AVIF and WebP encoder settings over the corpus photos, per tier.

    python -m bench.codecs [--out FILE] [--photos N] [--only LABEL,...] [--shipped]
                           [--analyse FILE]

For every corpus photo (../shared/corpus/photos; the fixtures when it is absent): one master and
pyramid through app.imaging, then every variant of the plan encoded with each candidate setting;
for each encode its bytes, CPU seconds (one encode at a time per process, so process time is the
encoder's own, its threads included) and SSIM against an exact Lanczos downscale of the original
(quality.measures). Two processes, one photo at a time each. Results are JSON lines; the
summary prints, per tier and candidate, total bytes, CPU, mean and lowest SSIM, and whether every
standard variant keeps SSIM >= 0.95. docs/imaging.md quotes the run.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from app.imaging.realtime import no_realtime_here

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
FIXTURES = ROOT / "tests" / "fixtures"

# (label, format, save options without quality); qualities per tier below.
AVIF_TODAY = ("aom-s8-ssim", "avif", {"codec": "aom", "speed": 8, "advanced": {"tune": "ssim"}})
CANDIDATES: list[tuple[str, str, dict[str, Any]]] = [
    AVIF_TODAY,
    ("svt-s8", "avif", {"codec": "svt", "speed": 8}),
    ("svt-s10", "avif", {"codec": "svt", "speed": 10}),
    ("webp-m4", "webp", {"method": 4}),
    ("webp-m3", "webp", {"method": 3}),
    ("webp-m2", "webp", {"method": 2}),
    ("webp-m1", "webp", {"method": 1}),
    ("webp-m0", "webp", {"method": 0}),
]
QUALITIES = {
    "avif": {"standard": (64, 66, 68, 70, 72, 74, 76), "weak": (56, 60, 64), "low": (31, 35, 39)},
    "webp": {"standard": (85, 86, 87, 88), "weak": (70, 72), "low": (40, 42)},
}


def photo_paths(limit: int | None = None) -> list[Path]:
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.exists():
        names = [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:]]
        paths = [CORPUS / n for n in names if n]
    else:
        paths = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".jpg", ".png", ".webp"))
    return paths[:limit] if limit else paths


def shipped_qualities() -> dict[str, dict[str, tuple[int, ...]]]:
    """The qualities EncodeSettings ships per tier, and AVIF's standard one 2 either side."""
    from app.imaging.encode import EncodeSettings

    shipped = EncodeSettings()
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for fmt in ("avif", "webp"):
        tiers = {t: shipped.quality_for(t).for_format(fmt) for t in ("standard", "weak", "low")}
        out[fmt] = {t: (q,) for t, q in tiers.items()}
    standard = out["avif"]["standard"][0]
    out["avif"]["standard"] = (standard - 2, standard, standard + 2)
    return out


def measure_photo(
    path: str,
    candidates: list[tuple[str, str, dict[str, Any]]] | None = None,
    qualities: dict[str, dict[str, tuple[int, ...]]] | None = None,
) -> list[dict[str, Any]]:
    from PIL import Image

    from app.imaging.limits import Limits
    from app.imaging.pipeline import load_master, pyramid
    from app.imaging.plan import plan_variants
    from edge.variants import FORMATS
    from quality.measures import reference_downscale, reference_original, ssim

    os.environ.setdefault("SVT_LOG", "1")
    master = load_master(Path(path), Limits())
    specs = plan_variants(master.width, FORMATS, height=master.height)
    specs = [s for s in specs if s.format == "avif"]
    sizes = pyramid(master.image, [s.width for s in specs])
    original = reference_original(Path(path))
    rows = []
    for spec in specs:
        frame = sizes[spec.width]
        if frame.mode not in ("RGB", "RGBA"):
            frame = frame.convert("RGBA" if "A" in frame.mode else "RGB")
        reference = reference_downscale(original, frame.size)
        for label, fmt, options in candidates or CANDIDATES:
            for quality in (qualities or QUALITIES)[fmt][spec.tier]:
                data, cpu = _encode(frame, fmt, quality, options)
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
                    score = ssim(img, reference)
                rows.append(
                    {
                        "photo": Path(path).name,
                        "variant": spec.name.rsplit(".", 1)[0],
                        "tier": spec.tier,
                        "pixels": frame.width * frame.height,
                        "candidate": label,
                        "quality": quality,
                        "bytes": len(data),
                        "cpu": cpu,
                        "ssim": score,
                    }
                )
    return rows


def _encode(frame: Any, fmt: str, quality: int, options: dict[str, Any]) -> tuple[bytes, float]:
    out = io.BytesIO()
    start = time.process_time()
    if fmt == "avif":
        no_realtime_here()  # SVT-AV1 run by root would make this thread SCHED_FIFO 99
        frame.save(out, "AVIF", quality=quality, subsampling="4:2:0", max_threads=1, **options)
    else:
        frame.save(out, "WEBP", quality=quality, **options)
    return out.getvalue(), time.process_time() - start


def _init() -> None:
    os.environ["SVT_LOG"] = "1"  # SVT-AV1 prints its configuration to stderr at level 3
    sys.path.insert(0, str(ROOT))
    from app.imaging.plugins import register_plugins

    register_plugins()


def run(
    paths: list[Path],
    out: Path,
    candidates: list[tuple[str, str, dict[str, Any]]] | None = None,
    qualities: dict[str, dict[str, tuple[int, ...]]] | None = None,
) -> None:
    context = multiprocessing.get_context("spawn")
    measure = functools.partial(measure_photo, candidates=candidates, qualities=qualities)
    with (
        ProcessPoolExecutor(2, mp_context=context, initializer=_init) as pool,
        out.open("w") as handle,
    ):
        for path, rows in zip(paths, pool.map(measure, map(str, paths)), strict=True):
            for row in rows:
                handle.write(json.dumps(row) + "\n")
            print(f"  {path.name}: {len(rows)} encodes", flush=True)


def _load(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as handle:
        for line in handle:
            yield json.loads(line)


def analyse(path: Path) -> list[str]:
    """Per tier, candidate and quality: bytes, CPU, mean and lowest SSIM, and the worst photo."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in _load(path):
        groups[(row["tier"], row["candidate"], row["quality"])].append(row)
    photos = {r["photo"] for rows in groups.values() for r in rows}
    lines = [
        f"{len(photos)} photos; per tier, candidate and quality over every variant of the tier",
        "",
        "| tier | candidate | q | variants | bytes | CPU-s | mean SSIM | lowest SSIM (photo) "
        "| < 0.95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (tier, label, quality), rows in sorted(groups.items()):
        worst = min(rows, key=lambda r: r["ssim"])
        below = sum(r["ssim"] < 0.95 for r in rows)
        lines.append(
            f"| {tier} | {label} | {quality} | {len(rows)} | {sum(r['bytes'] for r in rows):,} "
            f"| {sum(r['cpu'] for r in rows):.2f} "
            f"| {statistics.fmean(r['ssim'] for r in rows):.4f} "
            f"| {worst['ssim']:.4f} ({worst['photo']} {worst['variant']}) | {below} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.codecs", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("var/bench-codecs.jsonl"))
    parser.add_argument("--photos", type=int, default=None, help="only the first N photos")
    parser.add_argument("--analyse", type=Path, default=None, help="summarise an earlier run")
    parser.add_argument("--only", default=None, help="candidate labels, comma-separated")
    parser.add_argument(
        "--shipped", action="store_true", help="only the shipped qualities (AVIF standard +-2)"
    )
    args = parser.parse_args(argv)
    if args.analyse is None:
        labels = set(args.only.split(",")) if args.only else None
        candidates = [c for c in CANDIDATES if labels is None or c[0] in labels]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        qualities = shipped_qualities() if args.shipped else None
        run(photo_paths(args.photos), args.out, candidates, qualities)
    print("\n".join(analyse(args.analyse or args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
