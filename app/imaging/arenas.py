"""At most two glibc malloc arenas per process, set from code before any encoder thread starts.

glibc gives each thread that allocates its own arena, up to 8 per core, and each arena reserves
64 MB of address space. SVT-AV1 starts ~16 threads per encoder; two encoders side by side
reserved ~350 MB of address space in a process (measured, docs/imaging.md), and a worker pool
process runs under an address-space ceiling (tasks/celery_app.py): past it SVT-AV1 could not
start its threads. The `MALLOC_ARENA_MAX` environment variable does the same but is read once, at
a process's first allocation, so it only reaches processes started with it; `mallopt` works on
the running process and is inherited by the processes it forks (Celery's pool, the sandbox).
"""

from __future__ import annotations

import ctypes
import sys

_M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(count: int = ARENAS) -> bool:
    """True when glibc took the limit; False where there is no glibc mallopt (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))
