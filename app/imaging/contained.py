"""SVT-AV1 encodes in a child process, so a crash of the encoder costs a child, not the worker.

SVT-AV1 starts ~16 threads per encode. Near a process's address-space ceiling it fails to start
some of them; usually it then returns an error (encode.py falls back to libaom), but sometimes it
carries on with the threads it does not have and dies of SIGSEGV: measured 4 times in 30 runs of
two encodes side by side at 175-180 MB of headroom (tests/app/imaging/test_svt_contained.py), and
it killed pool processes in the hostile-file run. A signal cannot be caught in the process it
kills, so the AVIF encodes of an image run in a warm child (app/imaging/warm.py: one small
process per pool process, started once, reused for every image) that receives the pixels,
encodes them one at a time under its own time and memory budget, and sends back only the encoded
bytes. When the child crashes, runs out of memory or out of time, the calling process encodes the
same variants with libaom, on its own threads, and the next image gets a new child.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace

from PIL import Image

from app.imaging import warm
from app.imaging.encode import EncodeSettings
from app.imaging.errors import ImageRejected
from app.imaging.limits import Limits
from app.imaging.pipeline import Rendered, render
from app.imaging.plan import VariantSpec

log = logging.getLogger(__name__)


def render_contained(
    sizes: Mapping[int, Image.Image],
    specs: Iterable[VariantSpec],
    settings: EncodeSettings,
    limits: Limits,
) -> list[Rendered]:
    """Every spec rendered, in the order given; SVT-AV1's encodes in a child (module docstring).

    `sizes` is a pyramid (`pipeline.pyramid`) holding every width the specs ask for.
    """
    todo = list(specs)
    svt = [s for s in todo if s.format == "avif" and settings.avif_codec == "svt"]
    rest = [s for s in todo if s not in svt]
    if not svt:
        return list(render(sizes, todo, settings))
    with warm.borrowed() as child:  # started now, a new one imports while the others encode
        done = {r.spec: r for r in render(sizes, rest, settings)} if rest else {}
        done |= {r.spec: r for r in _svt_in_child(child, sizes, svt, settings, limits)}
    return [done[s] for s in todo]


def _svt_in_child(
    child: warm.WarmChild,
    sizes: Mapping[int, Image.Image],
    specs: list[VariantSpec],
    settings: EncodeSettings,
    limits: Limits,
) -> list[Rendered]:
    widths = {s.width for s in specs}
    # One encode at a time in the child: frames of a megapixel or more take turns anyway
    # (encode.SVT_ONE_AT_A_TIME_PIXELS), so a second thread only ran a small frame beside a big
    # one: the same wall time and CPU, and ~35 MB more peak RSS (docs/benchmarks.md, Run 4).
    one_by_one = replace(settings, threads=1)
    try:
        rendered: list[Rendered] = child.run(
            _render_list, {w: sizes[w] for w in widths}, specs, one_by_one, limits=limits
        )
    except ImageRejected as failed:
        log.warning(
            "SVT-AV1 encodes failed in their child (%s: %s); encoding them with libaom",
            failed.reason.value,
            failed.detail,
        )
        return list(render(sizes, specs, replace(settings, avif_codec="aom")))
    return rendered


def _render_list(
    sizes: dict[int, Image.Image], specs: list[VariantSpec], settings: EncodeSettings
) -> list[Rendered]:
    return list(render(sizes, specs, settings))
