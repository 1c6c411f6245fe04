"""The phone slot's AVIF settings against the 4g goal, photo by photo, and the best any
per-photo choice could do.

    python -m bench.phone_settings [--skip N] [--count N] [--formats F,...]

For each photo (bench.network's gallery order: the corpus's largest JPEGs, ``--skip`` the first
N): the 720 px frame as the pipeline makes it (the resize cascade), the reference (the master
resized to 720 px), and the fixed policy (WebP q80, method 4, from the reference). The frame is
encoded with SVT-AV1 at each preset and CRF of :data:`SETTINGS`, with `PHONE_AVIF`'s other SVT
options (tune 4), and each encode's bytes, SSIM against the reference and CPU are recorded.

Per setting, the set's bytes against the fixed policy's at its mean SSIM; then, per preset,
each photo's own CRF chosen with hindsight, knowing every result: the fewest bytes whose mean
SSIM is no lower than the fixed policy's, over every combination of the settings measured
(exact). A rule that picks one of these CRFs per photo as it encodes cannot do better, so a
set where this stays above 70 % cannot meet the 4g goal at that preset by per-photo tuning
among them (CRFs between two measured ones could gain a little: the steps are 1 at presets 4
and 5 from 26 to 33, where the goal is decided). The range matters: the hindsight choice sends
some photos to CRF 22 and others to 36, so a grid of 27-33 alone overstated what it needs.

Then a rule that needs no hindsight, as an encoder searching each photo's quality would run it:
per photo, the highest CRF at the preset in use whose SSIM against the frame it encoded (all
an encoder has) reaches a target, for each target of :data:`TARGETS`.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Final

from PIL import Image

from app.imaging.limits import Limits
from app.imaging.pipeline import load_master, pyramid
from app.imaging.plan import PHONE_AVIF, plan_variants
from app.imaging.plugins import register_plugins
from app.imaging.resize import resize_to_width
from bench.network import (
    FIXED_QUALITY,
    FIXED_WEBP_METHOD,
    REFERENCE_WIDTH,
    add_held_out_options,
    gallery,
)
from edge.variants import PHONE_SLOT
from quality.measures import ssim

# (preset, CRF): the presets the phone slot was tried at, each over CRF ~20-36 (a step of 1
# from 26 to 33 at presets 4 and 5, where the goal is decided; the hindsight choice uses the ends).
_NEAR: Final = (26.0, 27.0, 28.0, 29.0, 30.0, 30.5, 31.0, 32.0, 33.0)
SETTINGS: Final = (
    *((4, crf) for crf in (22.0, 24.0, 25.0, *_NEAR, 34.0, 36.0)),
    *((5, crf) for crf in (22.0, 24.0, *_NEAR, 34.0, 36.0)),
    *((6, crf) for crf in (20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 34.0, 36.0)),
    *((8, crf) for crf in (18.0, 20.0, 22.0, 24.0, 26.0, 28.0, 30.0)),
)
# SSIM against the encoded frame that the no-hindsight rule aims each photo at.
TARGETS: Final = (0.958, 0.960, 0.962, 0.965, 0.968, 0.970, 0.972)


@dataclass(frozen=True)
class Encoded:
    bytes: int
    ssim: float  # against the reference, the exact 720 px downscale
    cpu_seconds: float
    frame_ssim: float  # against the frame it encoded: what an encoder itself can measure


@dataclass(frozen=True)
class Photo:
    name: str
    fixed_bytes: int
    fixed_ssim: float
    encodes: Mapping[tuple[int, float], Encoded]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: SVT-AV1 starts its own
    return usage.ru_utime + usage.ru_stime


def measure(path: Path) -> Photo | None:
    """One photo's fixed policy and every setting's encode; None without a phone slot."""
    master = load_master(path, Limits())
    specs = plan_variants(master.width, height=master.height)
    if not any(s.width == PHONE_SLOT and s.name.startswith(f"{PHONE_SLOT}.") for s in specs):
        return None
    frame = pyramid(master.image, [s.width for s in specs])[PHONE_SLOT].convert("RGB")
    reference = resize_to_width(master.image, REFERENCE_WIDTH).convert("RGB")
    fixed = io.BytesIO()
    reference.save(fixed, "WEBP", quality=FIXED_QUALITY, method=FIXED_WEBP_METHOD)
    encodes = {}
    for preset, crf in SETTINGS:
        out = io.BytesIO()
        start = _cpu()
        frame.save(
            out, "AVIF", codec="svt", subsampling="4:2:0", max_threads=1, speed=preset,
            advanced=dict(PHONE_AVIF["svt"].svt_options) | {"crf": f"{crf:g}"},
        )  # fmt: skip
        cpu = _cpu() - start
        with Image.open(out) as decoded:
            shown = decoded.convert("RGB")
        encodes[preset, crf] = Encoded(
            len(out.getvalue()), ssim(reference, shown), cpu, ssim(frame, shown)
        )
    with Image.open(fixed) as decoded:
        fixed_ssim = ssim(reference, decoded.convert("RGB"))
    return Photo(path.name, len(fixed.getvalue()), fixed_ssim, encodes)


def at_preset(photo: Photo, preset: int) -> list[Encoded]:
    """``photo``'s encodes at ``preset``, from the lowest CRF (the most bytes) up."""
    return [e for (pr, _crf), e in sorted(photo.encodes.items()) if pr == preset]


def hindsight(photos: Sequence[Photo], preset: int) -> tuple[float, float] | None:
    """(bytes against the fixed policy's, mean SSIM) of the per-photo CRFs at ``preset`` with
    the fewest bytes whose mean SSIM is at least the fixed policy's; None when none reaches it.

    Exact: photo by photo, every (bytes, SSIM sum) a choice so far can reach, keeping only the
    ones no other beats on both.
    """
    fixed = sum(p.fixed_bytes for p in photos)
    frontier: list[tuple[int, float]] = [(0, 0.0)]
    for photo in photos:
        options = at_preset(photo, preset)
        reached = sorted(
            ((size + e.bytes, score + e.ssim) for size, score in frontier for e in options),
            key=lambda point: (point[0], -point[1]),
        )
        frontier = []
        for size, score in reached:  # by bytes: kept only when it buys more SSIM
            if not frontier or score > frontier[-1][1]:
                frontier.append((size, score))
    needed = sum(p.fixed_ssim for p in photos)
    enough = [(size, score) for size, score in frontier if score >= needed]
    if not enough:
        return None
    size, score = enough[0]
    return size / fixed, score / len(photos)


def aimed(photos: Sequence[Photo], preset: int, target: float) -> tuple[float, float]:
    """(bytes against the fixed policy's, mean SSIM) when each photo gets the highest CRF at
    ``preset`` whose SSIM against its own frame reaches ``target`` (the lowest CRF when none
    does): a per-photo rule that needs nothing an encoder does not have."""
    chosen = []
    for photo in photos:
        options = at_preset(photo, preset)
        enough = [e for e in options if e.frame_ssim >= target]
        chosen.append(enough[-1] if enough else options[0])
    fixed = sum(p.fixed_bytes for p in photos)
    return sum(e.bytes for e in chosen) / fixed, mean(e.ssim for e in chosen)


def report(photos: Sequence[Photo], label: str) -> list[str]:
    fixed = sum(p.fixed_bytes for p in photos)
    target_ssim = mean(p.fixed_ssim for p in photos)
    lines = [
        f"{label}: {len(photos)} photos with a phone slot; fixed policy {fixed / 1000:.0f} kB, "
        f"mean SSIM {target_ssim:.4f}",
        "",
        "| preset | CRF | bytes vs fixed | mean SSIM (vs fixed) | lowest | CPU-s per encode |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    settings = list(photos[0].encodes)
    for preset, crf in settings:
        runs = [p.encodes[preset, crf] for p in photos]
        score = mean(e.ssim for e in runs)
        lines.append(
            f"| {preset} | {crf:g} | {sum(e.bytes for e in runs) / fixed:.1%} | {score:.4f} "
            f"({score - target_ssim:+.4f}) | {min(e.ssim for e in runs):.4f} "
            f"| {mean(e.cpu_seconds for e in runs):.3f} |"
        )
    lines.append("")
    for preset in sorted({preset for preset, _ in settings}):
        best = hindsight(photos, preset)
        found = f"{best[0]:.1%} of the bytes at SSIM {best[1]:.4f}" if best else "never"
        lines.append(f"- preset {preset}, each photo's own CRF with hindsight: {found}")
    preset = PHONE_AVIF["svt"].speed
    if not any(pr == preset for pr, _ in settings):
        return lines
    lines.append("")
    for target in TARGETS:
        share, score = aimed(photos, preset, target)
        lines.append(
            f"- preset {preset}, each photo's highest CRF at SSIM >= {target:g} against its "
            f"frame: {share:.1%} of the bytes at SSIM {score:.4f} ({score - target_ssim:+.4f})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phone_settings", description=__doc__)
    add_held_out_options(parser)
    args = parser.parse_args(argv)
    register_plugins()
    paths, source = gallery(args.count, skip=args.skip, formats=args.formats)
    photos = [p for p in map(measure, paths) if p is not None]
    if not photos:
        print("no photo is wide enough for the phone slot", file=sys.stderr)
        return 1
    print("\n".join(report(photos, source)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
