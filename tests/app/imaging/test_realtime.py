"""app/imaging/realtime.py: an SVT-AV1 encode leaves its process at normal priority, even as root.

Each encode runs in a fresh interpreter, so the test process itself is never switched.
"""

from __future__ import annotations

import os
import subprocess
import sys

from app.imaging.realtime import CAP_SYS_NICE

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
print(os.sched_getscheduler(0))
"""


def _policy_after(how: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", ENCODE, how],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_an_svt_encode_leaves_the_thread_at_normal_priority() -> None:
    assert _policy_after("ours") == os.SCHED_OTHER


def test_without_it_root_gets_real_time_threads() -> None:
    """The hazard itself, where it exists: as root with CAP_SYS_NICE (this machine, CI)."""
    raw = _policy_after("raw")
    if os.geteuid() == 0 and _has_sys_nice():
        assert raw == os.SCHED_FIFO
    else:
        assert raw == os.SCHED_OTHER


def _has_sys_nice() -> bool:
    """CAP_SYS_NICE in this process's effective set (a new interpreter starts with the same)."""
    with open("/proc/self/status") as status:
        (effective,) = [line.split()[1] for line in status if line.startswith("CapEff:")]
    return bool(int(effective, 16) & (1 << CAP_SYS_NICE))
