"""No real-time scheduling for encoder threads, even as root.

SVT-AV1, run by root, switches the thread that encodes (and the threads it starts) to
SCHED_FIFO priority 99. Such threads take a core from everything else on the machine, the
worker's own main process, the API and its health checks included; and every process the
thread starts afterwards inherits the policy. Seen here: a test process that had encoded one
AVIF started a browser whose renderers then spun at real-time priority and left the rest of
a 2-core machine 5% of its time for half an hour.

Linux keeps capabilities per thread, and SVT-AV1's threads inherit them from the thread that
starts them: with CAP_SYS_NICE out of the calling thread's effective set, the switch fails
(EPERM; RLIMIT_RTPRIO is 0) and the encoder carries on at normal priority.
"""

from __future__ import annotations

import ctypes
import sys
import threading

CAP_SYS_NICE = 23  # linux/capability.h
_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_done = threading.local()


def no_realtime_here() -> None:
    """Take CAP_SYS_NICE out of this thread's effective set (once per thread; Linux only)."""
    if getattr(_done, "yes", False) or not sys.platform.startswith("linux"):
        return
    _done.yes = True
    libc = ctypes.CDLL(None, use_errno=True)
    header = _Header(_VERSION_3, 0)  # pid 0: the calling thread
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return
    if data[0].effective & (1 << CAP_SYS_NICE):
        data[0].effective &= ~(1 << CAP_SYS_NICE)
        libc.capset(ctypes.byref(header), data)
