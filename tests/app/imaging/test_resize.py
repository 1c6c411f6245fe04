"""Resizing under an address-space ceiling (app/imaging/resize.py)."""

from __future__ import annotations

import textwrap

from tests.e2e.processes import run_python

# In a fresh interpreter: a long-lived test process holds freed heap that a forked child
# reuses without asking the kernel, so the ceiling would not be met there.
SCRIPT = textwrap.dedent("""
    from dataclasses import replace
    from PIL import Image
    from app.imaging import sandbox
    from app.imaging.errors import ImageRejected
    from app.imaging.limits import Limits, MiB
    from app.imaging.resize import resize_to

    def resize(img, size):
        return resize_to(img, size).size

    source = Image.new("RGB", (4000, 4000), (90, 120, 150))  # made here: the child inherits it
    small = replace(Limits(), decode_memory_bytes=64 * MiB)
    for size in ((3000, 3000), (1000, 1000)):
        try:
            print(sandbox.run_limited(resize, source, size, limits=small))
        except ImageRejected as refused:
            print(refused.reason.value)
""")


def test_a_resize_past_the_ceiling_is_memory_limit_not_a_crash() -> None:
    # fast_image_resize (Rust) aborts the process when an allocation fails; Pillow raises
    # MemoryError. Where its buffers would not fit, resize_to takes Pillow, so the sandbox
    # reports memory_limit. With the fast path forced, this child dies of SIGABRT instead.
    done = run_python("-c", SCRIPT)
    assert done.returncode == 0, done.stderr
    # The same resize with room to spare succeeds.
    assert done.stdout.split("\n")[:2] == ["memory_limit", "(1000, 1000)"], done.stdout
