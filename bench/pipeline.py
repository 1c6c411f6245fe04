"""The imaging benchmark: our pipeline against naive Pillow and libvips, in one run.

    python -m bench.pipeline [--repeat N] [--latency-runs N] [--no-write] [--quick]
        [--engines E,...] [--no-latency] [--without-phone-slot]

Workload: the standard variant set (160-lq, 640-lq, 320, 640, 1280, 1920 in AVIF, WebP and
JPEG, plus the placeholder) for every JPEG of 8 MP or more in ../shared/corpus/photos (the
fixture photo when the corpus is absent). The low tiers are included for every engine.

Engines, with the same widths; the baselines with the encoder settings before issue 12
(`today_settings()`: libaom speed 8 tune=ssim at AVIF q72, WebP method 4):
- ours: app.imaging at its defaults (one DCT-scaled decode, resize cascade, SVT-AV1, WebP m2);
- ours-today: the same pipeline with the settings before issue 12;
- naive-once: the baseline the headline quotes. Pillow as a competent user writes it: one full
  decode, a Lanczos resize from the full image for each width, our encoders;
- naive-per-variant: a strawman kept for continuity, labelled as such: a full decode of the
  original again for every one of the 19 variants;
- libvips: pyvips the way imgproxy uses it: `thumbnail(path, width)` (shrink-on-load) then
  `write_to_buffer` for every variant, metadata stripped (libheif drives libaom for AVIF).

Throughput runs two worker processes (spawned, one image at a time each), so both cores are busy.
Latency runs the claim and app.processing's chain stages in-process on embedded backends
(file://, sqlite), and through a real Celery worker process on the embedded default
(bench/worker_latency.py).
Speed is noisy on a shared 2-core machine: compare ratios from one run, and repeat.
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
FIXTURE = ROOT / "tests" / "fixtures" / "lomiri16_Dragonfly_by_Bolly.jpg"
DOC = ROOT / "docs" / "benchmarks.md"
MIN_PIXELS = 7_950_000  # "8 MP": 3264x2448 phone photos (7.99 MP) count, as the MANIFEST says
# naive-once is the baseline the headline quotes; ours-today is our pipeline with the settings
# before issue 12 (libaom, WebP method 4), so the encoder change and the pipeline show apart.
ENGINES = ("ours", "ours-today", "naive-once", "naive-per-variant", "libvips")
LATENCY_PHOTO = "lomiri16_sunset_by_Aitzol_Berasategi.jpg"  # 12.2 MP, progressive


@dataclass
class Output:
    name: str
    data: bytes


@dataclass
class ImageResult:
    path: str
    outputs: list[Output]
    cpu: float
    decode_resize_cpu: float = 0.0
    placeholder_bytes: int = 0


@dataclass
class EngineRun:
    engine: str
    wall: float
    images: int
    cpu: float
    decode_resize_cpu: float
    peak_rss_mb: float
    bytes_out: int
    results: list[ImageResult] = field(default_factory=list)
    mean_ssim: float = 0.0


def photos() -> list[Path]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return [FIXTURE]
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        CORPUS / r["filename"]
        for r in rows
        if r["format"] == "JPEG" and int(r["width"]) * int(r["height"]) >= MIN_PIXELS
    ]


# --- The three engines (run inside spawned workers) ------------------------------------------


# Plan tiers no engine makes, set in each worker by _worker_init: with --without-phone-slot
# the phone slot (720.avif, which issue 16 added), so every engine makes the 18 variants issue
# 12 set its CPU goal on.
_left_out_tiers: set[str] = set()


def planned(width: int) -> list[Any]:
    """The variants every engine makes for an image ``width`` wide."""
    from app.imaging.plan import plan_variants

    return [s for s in plan_variants(width) if s.tier not in _left_out_tiers]


def _specs(path: Path) -> list[Any]:
    from PIL import Image

    from app.imaging.decode import orientation_of

    with Image.open(path) as img:
        width = img.height if orientation_of(img) in (5, 6, 7, 8) else img.width
    return planned(width)


def today_settings() -> Any:
    """The encoder settings before issue 12: libaom speed 8 tune=ssim at q72, WebP method 4.

    The baselines (and the `ours-today` row) use them, so the headline ratio is against what a
    careful Pillow user would have written with the settings we shipped, not against our new ones.
    """
    from app.imaging.encode import EncodeSettings, Quality

    return EncodeSettings(
        standard=Quality(jpg=90, webp=85, avif=72), avif_codec="aom", webp_method=4
    )


def run_ours(path: Path, settings: Any = None, render_avif: Any = None) -> ImageResult:
    from app.imaging.contained import render_contained
    from app.imaging.encode import EncodeSettings
    from app.imaging.limits import Limits
    from app.imaging.pipeline import load_master, pyramid
    from app.imaging.placeholder import make_placeholder

    # As in production: two encode threads per image. With two worker processes that is up to
    # four threads on two cores; it keeps both cores busy when one process runs out of images.
    # SVT-AV1's encodes run in a warm child, as in the worker: its CPU is counted too.
    settings = replace(settings or EncodeSettings(), threads=2)
    start = _cpu_with_children()
    master = load_master(path, Limits())
    specs = planned(master.width)
    sizes = pyramid(master.image, [s.width for s in specs])
    decode_resize = _cpu_with_children() - start
    hint = make_placeholder(sizes[min(sizes)])
    rendered = (render_avif or render_contained)(sizes, specs, settings, Limits())
    outputs = [Output(r.spec.name, r.data) for r in rendered]
    cpu = _cpu_with_children() - start
    return ImageResult(str(path), outputs, cpu, decode_resize, len(hint.data_uri + hint.thumbhash))


def _cpu_with_children() -> float:
    """This process's CPU seconds, its waited-for children's (a decode sandbox, a replaced AVIF
    child) and its live warm AVIF children's (app/imaging/warm.py; /proc, clock ticks)."""
    from app.imaging.warm import idle_pids

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = sum(_proc_cpu(pid) for pid in idle_pids())
    return time.process_time() + children.ru_utime + children.ru_stime + live


def _proc_cpu(pid: int) -> float:
    """A live process's user + system CPU seconds, all its threads, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float:
    """A live process's peak RSS (VmHWM) in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def run_ours_today(path: Path) -> ImageResult:
    return run_ours(path, today_settings())


def run_ours_forked(path: Path) -> ImageResult:
    """ours with the AVIF encodes in a child forked per image, as before the warm child
    (app/imaging/warm.py): `--engines ours,ours-forked` shows what the warm child saves."""
    return run_ours(path, render_avif=_render_forked)


def _render_forked(sizes: Any, specs: Any, settings: Any, limits: Any) -> list[Any]:
    from app.imaging import contained, sandbox
    from app.imaging.pipeline import render

    avif = [s for s in specs if s.format == "avif"]
    done = {r.spec: r for r in render(sizes, [s for s in specs if s not in avif], settings)}
    forked = sandbox.run_limited(
        contained._render_list, dict(sizes), avif, settings, limits=limits, pass_interrupts=True
    )
    done |= {r.spec: r for r in forked}
    return [done[s] for s in specs]


def run_naive_once(path: Path) -> ImageResult:
    """What a competent Pillow user writes: decode once, resize from the full image per width.

    Full decode (no DCT scaling), EXIF transpose, one Lanczos resize from full size for each
    width, our encoders with today's settings, one thread.
    """
    from PIL import Image, ImageOps

    from app.imaging.encode import encode
    from app.imaging.placeholder import make_placeholder

    settings = today_settings()
    start = time.process_time()
    outputs = []
    with Image.open(path) as img:
        full = ImageOps.exif_transpose(img.convert("RGB"))
    frames: dict[int, Image.Image] = {}
    for spec in _specs(path):
        if spec.width not in frames:
            height = max(1, round(full.height * spec.width / full.width))
            frames[spec.width] = full.resize((spec.width, height), Image.Resampling.LANCZOS)
        quality = settings.quality_for(spec.tier).for_format(spec.format)
        data = encode(frames[spec.width], spec.format, quality, settings)
        outputs.append(Output(spec.name, data))
    hint = make_placeholder(full)
    cpu = time.process_time() - start
    return ImageResult(str(path), outputs, cpu, 0.0, len(hint.data_uri + hint.thumbhash))


def run_naive_per_variant(path: Path) -> ImageResult:
    """A strawman kept for continuity: decodes the original again for every one of the variants."""
    from PIL import Image, ImageOps

    from app.imaging.encode import encode
    from app.imaging.placeholder import make_placeholder

    settings = today_settings()
    start = time.process_time()
    outputs = []
    for spec in _specs(path):
        with Image.open(path) as img:
            full = ImageOps.exif_transpose(img.convert("RGB"))
        height = max(1, round(full.height * spec.width / full.width))
        frame = full.resize((spec.width, height), Image.Resampling.LANCZOS)
        quality = settings.quality_for(spec.tier).for_format(spec.format)
        outputs.append(Output(spec.name, encode(frame, spec.format, quality, settings)))
    with Image.open(path) as img:
        hint = make_placeholder(ImageOps.exif_transpose(img.convert("RGB")))
    cpu = time.process_time() - start
    return ImageResult(str(path), outputs, cpu, 0.0, len(hint.data_uri + hint.thumbhash))


def run_libvips(path: Path) -> ImageResult:
    import numpy as np
    import pyvips
    from PIL import Image

    from app.imaging.placeholder import make_placeholder

    settings = today_settings()  # libheif drives libaom: effort = 9 - speed, tune=ssim
    start = time.process_time()
    outputs = []
    for spec in _specs(path):
        thumb = pyvips.Image.thumbnail(str(path), spec.width, height=100_000, size="down")
        quality = settings.quality_for(spec.tier).for_format(spec.format)
        if spec.format == "jpg":
            data = thumb.write_to_buffer(
                ".jpg",
                Q=quality,
                optimize_coding=True,
                interlace=True,
                strip=True,
                subsample_mode="on",
            )
        elif spec.format == "webp":
            data = thumb.write_to_buffer(
                ".webp", Q=quality, effort=settings.webp_method, strip=True
            )
        else:  # libvips effort = 9 - libaom speed
            data = thumb.write_to_buffer(
                ".avif",
                Q=quality,
                effort=9 - settings.aom_speed,
                strip=True,
                subsample_mode="on",
            )
        outputs.append(Output(spec.name, data))
    small = pyvips.Image.thumbnail(str(path), 100, height=100)
    pixels = np.ndarray(
        buffer=small.write_to_memory(),
        dtype=np.uint8,
        shape=(small.height, small.width, small.bands),
    )
    hint = make_placeholder(Image.fromarray(pixels[..., :3]))
    cpu = time.process_time() - start
    return ImageResult(str(path), outputs, cpu, 0.0, len(hint.data_uri + hint.thumbhash))


RUNNERS: dict[str, Callable[[Path], ImageResult]] = {
    "ours": run_ours,
    "ours-today": run_ours_today,
    "ours-forked": run_ours_forked,
    "naive-once": run_naive_once,
    "naive-per-variant": run_naive_per_variant,
    "libvips": run_libvips,
}


def _worker_init(left_out_tiers: frozenset[str] = frozenset()) -> None:
    _left_out_tiers.update(left_out_tiers)
    os.environ["VIPS_CONCURRENCY"] = "1"  # one image per process; two processes, two cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from app.imaging.arenas import limit_malloc_arenas

    limit_malloc_arenas()  # as the worker does (tasks/celery_app.py), for every engine


def _run_one(engine: str, path: str) -> tuple[ImageResult, float]:
    result = RUNNERS[engine](Path(path))
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(
    engine: str, paths: list[Path], processes: int = 2, *, left_out: frozenset[str] = frozenset()
) -> EngineRun:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=_worker_init,
        initargs=(left_out,),
    ) as pool:
        list(pool.map(_warm, [engine] * processes))  # imports and codec set-up are not timed
        start = time.perf_counter()
        done = list(pool.map(_run_one, [engine] * len(paths), [str(p) for p in paths]))
        wall = time.perf_counter() - start
    results = [r for r, _rss in done]
    return EngineRun(
        engine=engine,
        wall=wall,
        images=len(paths),
        cpu=sum(r.cpu for r in results),
        decode_resize_cpu=sum(r.decode_resize_cpu for r in results),
        peak_rss_mb=max(rss for _r, rss in done),
        bytes_out=sum(len(o.data) for r in results for o in r.outputs),
        results=results,
    )


def _warm(engine: str) -> None:
    RUNNERS[engine](FIXTURE if not engine.startswith("naive") else _small_fixture())
    time.sleep(0.2)


def _small_fixture() -> Path:
    return ROOT / "tests" / "fixtures" / "skimage_coffee.png"


# --- Quality: mean SSIM against an exact Lanczos downscale of the original --------------------


def _ssim_for(path: str, outputs: dict[str, list[tuple[str, bytes]]]) -> dict[str, list[float]]:
    from PIL import Image

    from quality.measures import reference_downscale, reference_original, ssim

    original = reference_original(Path(path))
    scores: dict[str, list[float]] = {}
    for engine, items in outputs.items():
        for _name, data in items:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                scores.setdefault(engine, []).append(
                    ssim(img, reference_downscale(original, img.size))
                )
    return scores


def add_ssim(runs: dict[str, EngineRun]) -> dict[str, dict[str, float]]:
    """Mean SSIM per engine (all variants) and per engine and tier."""
    by_path: dict[str, dict[str, list[tuple[str, bytes]]]] = {}
    for engine, run in runs.items():
        for result in run.results:
            items = [(o.name, o.data) for o in result.outputs]
            by_path.setdefault(result.path, {})[engine] = items
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        done = list(pool.map(_ssim_for, list(by_path), list(by_path.values())))
    tiers: dict[str, dict[str, float]] = {}
    for engine, run in runs.items():
        scores = [s for d in done for s in d.get(engine, [])]
        names = [n for p in by_path.values() for n, _ in p.get(engine, [])]
        run.mean_ssim = statistics.fmean(scores)
        standard = [s for s, n in zip(scores, names, strict=True) if "-lq" not in n]
        tiers[engine] = {"standard": statistics.fmean(standard), "min": min(standard)}
    return tiers


# --- Latency through app.processing on embedded backends ---------------------------------------


def _latency_child(path: str, runs: int, queue: Any) -> None:
    queue.put(latency(Path(path), runs))


def latency(path: Path, runs: int) -> dict[str, list[float]]:
    from app import processing
    from app.catalog import Status
    from app.services import build_services
    from app.setting_types import Secret
    from app.settings import Settings

    first: list[float] = []
    fast: list[float] = []
    everything: list[float] = []
    for i in range(runs + 1):  # the first run warms caches and is dropped
        with tempfile.TemporaryDirectory(prefix="imagepipe-bench-") as tmp:
            settings = Settings(
                originals_url=Path(tmp, "originals").as_uri(),
                variants_url=Path(tmp, "variants").as_uri(),
                catalog_url=f"sqlite:///{tmp}/catalog.db",
                broker_url="memory://",
                public_base_url="http://127.0.0.1:8000",
                secret_key=Secret("bench-secret-key-0123456789"),  # a throwaway
                data_dir=tmp,
            )
            services = build_services(settings)
            image_id = f"bench{i}"
            with path.open("rb") as handle:
                services.originals.put(image_id, handle, content_type="image/jpeg")
            services.catalog.add(services.new_record(image_id, "bench", "image/jpeg", path.name))
            start = time.perf_counter()  # the upload event arrives
            processing.claim(services, image_id)
            processing.resize(services, image_id)
            t_first = time.perf_counter() - start
            record = services.catalog.get(image_id)
            assert record.placeholder is not None
            assert record.variant("640.webp") is not None
            t_fast = t_first
            for stage in processing.chain_stages(settings)[1:]:  # as the worker's chain
                if stage == "encode":
                    t_fast = time.perf_counter() - start  # every fast format stored
                getattr(processing, stage)(services, image_id)
            t_all = time.perf_counter() - start
            assert services.catalog.get(image_id).status is Status.READY
        if i:
            first.append(t_first)
            fast.append(t_fast)
            everything.append(t_all)
    return {"first": first, "fast": fast, "all": everything}


def _rss_child(path: str, queue: Any) -> None:
    import gc

    from app import processing  # noqa: F401 - the worker's imports count in its RSS
    from app.imaging.arenas import limit_malloc_arenas

    limit_malloc_arenas()  # as the worker does

    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    latency(Path(path), 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The decode runs in a forked child (app/imaging/sandbox.py), the AVIF encodes in a warm
    # child (app/imaging/warm.py): the largest of them, apart (a forked child's pages shared
    # with this process count in both).
    from app.imaging.warm import idle_pids

    children = max(
        [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]
        + [_proc_peak_rss_mb(pid) for pid in idle_pids()]
    )
    queue.put((before, peak, children))


def make_50mp_jpeg(out: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(FIXTURE) as img:
        big = img.convert("RGB").resize((8660, 5773), Image.Resampling.BICUBIC)  # 49.99 MP
    big.save(out, "JPEG", quality=90)  # baseline (sequential), as cameras write
    return big.size


def _in_child(target: Callable[..., None], *args: Any) -> Any:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    value = queue.get(timeout=900)
    process.join()
    return value


# --- Report -------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    from PIL import __version__ as pillow_version

    try:
        import pyvips

        vips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    except (ImportError, OSError):
        vips = "absent"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "pillow": pillow_version,
        "libvips": vips,
    }


def table(runs: dict[str, EngineRun]) -> list[str]:
    lines = [
        "| engine | images/s (2 procs) | CPU-s/image | decode+resize CPU | peak RSS (MB) "
        "| bytes out | mean SSIM |",
        "|---|---|---|---|---|---|---|",
    ]
    for engine, run in runs.items():
        share = f"{100 * run.decode_resize_cpu / run.cpu:.0f}%" if run.decode_resize_cpu else "-"
        lines.append(
            f"| {engine} | {run.images / run.wall:.2f} | {run.cpu / run.images:.2f} | {share} "
            f"| {run.peak_rss_mb:.0f} | {run.bytes_out:,} | {run.mean_ssim:.4f} |"
        )
    return lines


def ratios(runs: dict[str, EngineRun]) -> dict[str, float]:
    """Ours against each other engine of the same run: CPU per image, throughput, bytes, SSIM."""
    ours = runs["ours"]
    out = {}
    for name, other in runs.items():
        if name == "ours":
            continue
        out[f"CPU: {name} / ours"] = (other.cpu / other.images) / (ours.cpu / ours.images)
        out[f"throughput: ours / {name}"] = (ours.images / ours.wall) / (other.images / other.wall)
        out[f"bytes: ours / {name}"] = ours.bytes_out / other.bytes_out
        out[f"SSIM: ours minus {name}"] = ours.mean_ssim - other.mean_ssim
    out["decode+resize share"] = ours.decode_resize_cpu / ours.cpu
    return out


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--repeat", type=int, default=2, help="throughput runs (default 2)")
    parser.add_argument("--latency-runs", type=int, default=5, help="latency repetitions")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--quick", action="store_true", help="three photos, one run (a smoke test)")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated; ours is always run"
    )
    parser.add_argument("--no-latency", action="store_true", help="skip latency and memory")
    parser.add_argument(
        "--without-phone-slot",
        action="store_true",
        help="every engine leaves out 720.avif: the 18 variants issue 12 set its CPU goal on",
    )
    return parser


def _left_out(args: argparse.Namespace) -> frozenset[str]:
    """The plan tiers no engine makes in this run."""
    from app.imaging.plan import PHONE_TIER

    return frozenset({PHONE_TIER}) if args.without_phone_slot else frozenset()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.without_phone_slot and not args.no_write:
        parser.error("--without-phone-slot measures another variant set: use it with --no-write")
    sys.path.insert(0, str(ROOT))
    left_out = _left_out(args)
    paths = sorted(photos(), key=lambda p: -p.stat().st_size)  # biggest first: even finish
    if args.quick:
        paths, args.repeat, args.latency_runs = paths[:3], 1, 2
    engines = ["ours", *(e for e in args.engines.split(",") if e in RUNNERS and e != "ours")]
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError) as exc:
        print(f"libvips baseline skipped: {exc} (run scripts/system-deps.sh libvips42)")
        if "libvips" in engines:
            engines.remove("libvips")
    info = machine()
    print(f"machine: {info}")
    print(f"photos: {len(paths)} JPEGs of 8 MP or more; load average {load_average()}")
    all_runs: list[tuple[dict[str, EngineRun], dict[str, float], dict[str, dict[str, float]]]] = []
    for attempt in range(args.repeat):
        runs = {}
        for engine in engines:
            runs[engine] = throughput(engine, paths, left_out=left_out)
            print(f"  run {attempt + 1} {engine}: {runs[engine].wall:.1f} s", flush=True)
        tiers = add_ssim(runs)
        r = ratios(runs)
        all_runs.append((runs, r, tiers))
        print("\n".join(table(runs)))
        print("ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
        for engine, tier in tiers.items():
            print(
                f"{engine}: standard variants' SSIM mean {tier['standard']:.4f}, "
                f"lowest {tier['min']:.4f}"
            )
    if args.no_latency:
        return 0
    latency_photo = CORPUS / LATENCY_PHOTO if (CORPUS / LATENCY_PHOTO).exists() else FIXTURE
    lat = _in_child(_latency_child, str(latency_photo), args.latency_runs)
    print(
        f"latency ({latency_photo.name}): first usable median "
        f"{statistics.median(lat['first']) * 1000:.0f} ms, fast formats "
        f"{statistics.median(lat['fast']) * 1000:.0f} ms, all variants "
        f"{statistics.median(lat['all']) * 1000:.0f} ms"
    )
    from bench.worker_latency import measure

    real = measure(latency_photo, args.latency_runs)
    print(
        f"through a Celery worker: first usable median "
        f"{statistics.median(real['first']) * 1000:.0f} ms, all variants "
        f"{statistics.median(real['all']) * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp, "50mp.jpg")
        size = _in_child(_make_child, str(big))
        rss_before, rss_peak, rss_child = _in_child(_rss_child, str(big))
    print(
        f"50 MP JPEG {size}: RSS {rss_before:.0f} MB after imports, peak {rss_peak:.0f} MB; "
        f"largest child (decode or AVIF) {rss_child:.0f} MB"
    )
    if not args.no_write:
        write_doc(
            info,
            paths=paths,
            all_runs=all_runs,
            lat=lat,
            real=real,
            latency_photo=latency_photo,
            rss=(rss_before, rss_peak, size),
        )
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


def _make_child(out: str, queue: Any) -> None:
    queue.put(make_50mp_jpeg(Path(out)))


def write_doc(
    info: dict[str, str],
    *,
    paths: list[Path],
    all_runs: list[tuple[dict[str, EngineRun], dict[str, float], dict[str, dict[str, float]]]],
    lat: dict[str, list[float]],
    real: dict[str, list[float]],
    latency_photo: Path,
    rss: tuple[float, float, tuple[int, int]],
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); see bench/pipeline.py for what is measured.",
        "",
        "## Machine and conditions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        f"- load average at the end: {load_average()} (other engineers' test runs share the two "
        "cores, so absolute times are noisy; compare the ratios within one run)",
        f"- photos: {len(paths)} JPEGs of 8 MP or more: " + ", ".join(p.name for p in paths),
        "- variants: 160-lq, 640-lq, 320, 640, 1280, 1920 x AVIF, WebP, JPEG, and the phone "
        "slot 720.avif (19, every tier included for every engine, those left to a first "
        "request too), plus the placeholder",
        "- engines: ours (the defaults), ours-today (our pipeline, the encoder settings before "
        "issue 12), naive-once (the baseline: Pillow, one full decode, a resize from full size "
        "per width, today's settings), naive-per-variant (a full decode per variant: a "
        "strawman kept for continuity), libvips (thumbnail + write_to_buffer per variant)",
        "",
    ]
    for i, (runs, r, tiers) in enumerate(all_runs, 1):
        lines += [f"## Run {i}", "", *table(runs), ""]
        lines += [f"- {k}: {v:.3f}" for k, v in r.items()]
        lines += [
            f"- {e}: mean SSIM of standard variants {t['standard']:.4f}, lowest {t['min']:.4f}"
            for e, t in tiers.items()
        ]
        lines.append("")
    lines += [
        "## Latency through a real Celery worker (the embedded default)",
        "",
        f"{latency_photo.name}, {len(real['first'])} runs after a warm-up, medians "
        "(bench/worker_latency.py: a `celery worker` process, prefork, concurrency 2, on the "
        "filesystem broker, folders and SQLite; the clock starts at the ObjectCreated event):",
        "",
        f"- upload event to first usable variant (placeholder, 160-lq.webp and 640.webp stored "
        f"and recorded): {statistics.median(real['first']) * 1000:.0f} ms (all: "
        + ", ".join(f"{v * 1000:.0f}" for v in real["first"])
        + ")",
        f"- to all variants and `ready`: {statistics.median(real['all']) * 1000:.0f} ms (all: "
        + ", ".join(f"{v * 1000:.0f}" for v in real["all"])
        + ")",
        "",
        "## Latency (app.processing stages in-process, embedded backends)",
        "",
        f"{latency_photo.name}, {len(lat['first'])} runs after a warm-up, medians:",
        "",
        f"- upload event to the end of the resize stage (the first paint recorded and the "
        f"pyramid stored): {statistics.median(lat['first']) * 1000:.0f} ms (all: "
        + ", ".join(f"{v * 1000:.0f}" for v in lat["first"])
        + ")",
        f"- to every fast variant processing makes (WebP; JPEG only if IMAGEPIPE_EAGER_VARIANTS "
        f"names it): {statistics.median(lat['fast']) * 1000:.0f} ms",
        f"- to all variants (AVIF too) and `ready`: {statistics.median(lat['all']) * 1000:.0f} ms "
        "(all: " + ", ".join(f"{v * 1000:.0f}" for v in lat["all"]) + ")",
        "",
        "## Memory",
        "",
        f"A {rss[2][0]}x{rss[2][1]} baseline JPEG through the chain's stages in one fresh process: "
        f"{rss[0]:.0f} MB after imports, peak RSS {rss[1]:.0f} MB.",
        "",
    ]
    existing = DOC.read_text() if DOC.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else ""
    DOC.write_text("\n".join(lines) + "\n<!-- notes -->" + notes)


if __name__ == "__main__":
    sys.exit(main())
