"""app/imaging/realtime.py: an SVT-AV1 encode leaves its process at normal priority, even as root.

Each encode runs in a fresh interpreter, so the test process itself is never switched.
"""

from __future__ import annotations

import os
import subprocess
import sys

ENCODE = """
import io, os, sys
from PIL import Image
from app.imaging.plugins import register_plugins
from app.imaging.encode import EncodeSettings, encode
register_plugins()
frame = Image.new("RGB", (320, 240), (120, 30, 200))
if sys.argv[1] == "raw":  # what pillow-avif-plugin does when nothing takes the capability away
    frame.save(io.BytesIO(), "AVIF", codec="svt", quality=60, speed=8)
else:
    assert encode(frame, "avif", 60, EncodeSettings(avif_codec="svt"))
with open("/proc/self/status") as status:  # CAP_SYS_NICE (23) in this process's effective set
    (effective,) = [line.split()[1] for line in status if line.startswith("CapEff:")]
print(int(bool(int(effective, 16) & (1 << 23))), os.sched_getscheduler(0))
"""


def _run(how: str) -> tuple[bool, int]:
    """(whether the encoding process held CAP_SYS_NICE, its scheduling policy after)."""
    done = subprocess.run(
        [sys.executable, "-c", ENCODE, how],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    had_sys_nice, policy = done.stdout.split()[-2:]
    return had_sys_nice == "1", int(policy)


def test_an_svt_encode_leaves_the_thread_at_normal_priority() -> None:
    assert _run("ours")[1] == os.SCHED_OTHER


def test_without_it_root_gets_real_time_threads() -> None:
    """The hazard itself, where it exists: as root with CAP_SYS_NICE (this machine, CI)."""
    had_sys_nice, raw = _run("raw")
    assert raw == (os.SCHED_FIFO if os.geteuid() == 0 and had_sys_nice else os.SCHED_OTHER)
