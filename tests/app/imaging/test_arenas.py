"""At most two malloc arenas, set from code: threads that allocate stop reserving 64 MB each."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import ctypes, sys, threading
from app.imaging.arenas import limit_malloc_arenas

if sys.argv[1] == "limited":
    assert limit_malloc_arenas()

def address_space():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * 4096

malloc = ctypes.CDLL(None).malloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = (ctypes.c_size_t,)
before = address_space()
go = threading.Barrier(8)

def allocate():
    go.wait()  # all eight at once: each one contends for an arena
    for _ in range(200):
        malloc(16 * 1024)  # under the mmap threshold: served from this thread's arena

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print((address_space() - before) >> 20)
"""


def _growth_mb(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from the test's environment
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    return int(result.stdout)


def test_limited_arenas_keep_allocating_threads_from_reserving_address_space() -> None:
    default, limited = _growth_mb("default"), _growth_mb("limited")
    print(f"address space added by 8 allocating threads: {default} MB, limited {limited} MB")
    # Eight allocating threads: glibc's default gives most their own 64 MB arena (2 cores: up
    # to 16); with the limit they share two.
    assert default >= 200, default
    assert limited <= 150, limited
