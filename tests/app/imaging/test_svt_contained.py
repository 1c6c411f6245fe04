"""SVT-AV1 in a memory-capped process: a crash of the encoder costs a child, never the process.

SVT-AV1 starts ~16 threads per encode; near an address-space ceiling some fail to start, and
then it either returns an error or dies of SIGSEGV (seen in the hostile-file run, and in 4 of 30
runs of the second test's condition with the encodes in process). Each test runs in its own
Python process, so a crash there is a failed test here, not a dead test run.
"""

from __future__ import annotations

import subprocess
import textwrap

from app.imaging.contained import render_contained
from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.imaging.pipeline import pyramid, render
from app.imaging.plan import VariantSpec
from tests.e2e.processes import run_python

SETUP = """
import io, os, resource, signal, sys
from PIL import Image
from app.imaging.contained import render_contained
from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.imaging.pipeline import pyramid
from app.imaging.plan import VariantSpec

scene = Image.effect_mandelbrot((1920, 1280), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
widths = (1920, 1280, 640, 320)
sizes = pyramid(scene, widths)
specs = [VariantSpec(f"{w}.avif", "avif", w, "standard") for w in widths]
settings = EncodeSettings(avif_codec="svt")

def check(rendered):
    assert [r.spec for r in rendered] == specs
    for item in rendered:
        with Image.open(io.BytesIO(item.data)) as img:
            assert (img.format, img.width) == ("AVIF", item.spec.width), item.spec
"""


def _run(body: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SVT_LOG": "0"}  # no MALLOC_ARENA_MAX: glibc's default
    script = SETUP + textwrap.dedent(body)
    return run_python("-c", script, env=env, timeout=600)


def test_an_svt_av1_segfault_costs_the_child_and_libaom_encodes_instead() -> None:
    """SVT-AV1's crash, made certain: in the child, the encoder kills its process with SIGSEGV."""
    result = _run(
        """
        from app.imaging import contained
        from tests.app.imaging import warm_jobs

        real_save = Image.Image.save
        codecs = []

        def save(self, fp, format=None, **params):
            codecs.append(params.get("codec"))
            real_save(self, fp, format, **params)

        Image.Image.save = save  # this process's encodes: the child has its own Pillow
        contained._render_list = warm_jobs.render_with_svt_segfaulting
        check(render_contained(sizes, specs, settings, Limits()))
        assert codecs == ["aom"] * len(specs), codecs  # the fallback, in this process
        print("survived")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"


def test_svt_av1_under_a_tight_address_space_never_kills_the_process() -> None:
    """Two encodes side by side with 150-260 MB of address space left, glibc's malloc arenas.

    The encoding child gets the tight budget (the child's ceiling is its own size plus
    `decode_memory_bytes`); the calling process keeps room for the libaom fallback, as a pool
    process does under its 1.5 GB. Encoding in process under the same budget crashed.
    """
    result = _run(
        """
        for headroom in range(150, 270, 10):
            limits = Limits(decode_memory_bytes=headroom << 20)
            check(render_contained(sizes, specs, settings, limits))
        print("survived")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"


def test_contained_svt_av1_bytes_are_the_same_every_time_and_as_in_process() -> None:
    from PIL import Image

    scene = Image.effect_mandelbrot((1280, 853), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    sizes = pyramid(scene, (1280, 640, 160))
    specs = [
        VariantSpec("160-lq.avif", "avif", 160, "low"),
        VariantSpec("640.webp", "webp", 640, "standard"),
        VariantSpec("640.avif", "avif", 640, "standard"),
        VariantSpec("1280.avif", "avif", 1280, "standard"),
    ]
    settings = EncodeSettings(avif_codec="svt")
    first = render_contained(sizes, specs, settings, Limits())
    assert [r.spec for r in first] == specs
    again = render_contained(sizes, specs, settings, Limits())
    in_process = list(render(sizes, specs, settings))
    assert [r.data for r in again] == [r.data for r in first]
    assert [r.data for r in in_process] == [r.data for r in first]
