"""Run a decode in a forked child with a wall-clock deadline, a CPU limit and a memory ceiling.

Pillow's decoders are C code: a stall inside one never returns to Python, so a timer in the
same process cannot stop it, and a decoder that segfaults or aborts on allocation failure takes
its process with it. Here the decode happens in a child process:

- the parent waits for the result at most `limits.decode_seconds`, then kills the child:
  `decode_timeout`;
- the child may add at most `limits.decode_memory_bytes` of address space (RLIMIT_AS on top of
  what it inherited): an allocation past it fails with MemoryError, `memory_limit`;
- RLIMIT_CPU backs up the deadline if the parent itself is stopped;
- a child killed by a signal (SIGSEGV, SIGABRT, the kernel's OOM killer) is `decoder_crash`,
  and the calling process (a Celery pool process) lives on.

The result comes back through a pipe: a pickle, with the pixels written out of band (not copied
into it). The child shares the parent's imported modules, so nothing is imported again. A round
trip costs about 5 ms; decoding a 12 MP JPEG this way costs 35-55 ms more than in process,
mostly copy-on-write page faults and the 8 MB master's trip back (docs/robustness.md). POSIX.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import fcntl
import gc
import io
import math
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from PIL import Image

from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits
from app.imaging.pipeline import Master
from app.imaging.pipeline import load_master as _load_master

T = TypeVar("T")

_RESET_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
_PR_SET_PDEATHSIG = 1
_PIPE_SIZE = 1 << 20
_OUT_OF_MEMORY = 3  # the child's exit code when even the result did not fit


def load_master(path: Path, limits: Limits) -> Master:
    """`app.imaging.pipeline.load_master` (probe, decode, master resize) under the limits."""
    return run_limited(_load_master, path, limits, limits=limits)


def run_limited(
    fn: Callable[..., T], *args: Any, limits: Limits, pass_interrupts: bool = False
) -> T:
    """fn(*args) in a forked child; its ImageRejected comes back as is, every failure as one.

    With pass_interrupts, an exception raised in this process while it waits (Celery's soft
    time limit) kills the child and propagates as it is, not as a decode timeout.
    """
    started = time.monotonic()
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # Linux: fewer round trips for the image
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(write_end, fn, args, limits)
    os.close(write_end)
    try:
        payload = _collect(read_end, started + limits.decode_seconds)
    except _Deadline:
        _kill(pid)
        raise ImageRejected(
            Reason.DECODE_TIMEOUT,
            f"decoding took longer than {limits.decode_seconds:g} s and was stopped",
        ) from None
    except BaseException as exc:
        _kill(pid)
        if pass_interrupts:
            raise
        if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's, by name: no import here
            raise ImageRejected(
                Reason.DECODE_TIMEOUT, "the task's time limit ran out while decoding"
            ) from None
        raise
    finally:
        os.close(read_end)
    status = os.waitpid(pid, 0)[1]  # it closed the pipe: it is exiting
    return cast(T, _outcome(payload, status, limits))


class _Deadline(Exception):
    pass


def _collect(fd: int, deadline: float) -> tuple[bytearray, list[bytearray]]:
    """The child's result: a pickle and its out-of-band buffers (the pixels), each read once."""
    header = _read_into(fd, bytearray(12), deadline)
    if len(header) < 12:
        return bytearray(), []
    length, count = struct.unpack("<QI", header)
    sizes = struct.unpack(f"<{count}Q", _read_into(fd, bytearray(8 * count), deadline))
    stream = _read_into(fd, bytearray(length), deadline)
    return stream, [_read_into(fd, bytearray(size), deadline) for size in sizes]


def _read_into(fd: int, buffer: bytearray, deadline: float) -> bytearray:
    view = memoryview(buffer)
    filled = 0
    waiter = select.poll()  # not select(): a busy worker may hold descriptors past 1024
    waiter.register(fd, select.POLLIN)
    while filled < len(buffer):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not waiter.poll(math.ceil(remaining * 1000)):
            raise _Deadline
        got = os.readv(fd, [view[filled:]])
        if not got:
            break
        filled += got
    view.release()
    return buffer[:filled] if filled < len(buffer) else buffer


def _outcome(payload: tuple[bytearray, list[bytearray]], status: int, limits: Limits) -> Any:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.Signals(number).name
        if number == signal.SIGXCPU:
            raise ImageRejected(
                Reason.DECODE_TIMEOUT, f"the decoder used up its CPU time and got {name}"
            )
        raise ImageRejected(Reason.DECODER_CRASH, f"the decoder process died on {name}")
    code = os.waitstatus_to_exitcode(status)
    if code == _OUT_OF_MEMORY:
        raise _memory_error(limits)
    stream, buffers = payload
    try:
        kind, value = pickle.loads(stream, buffers=buffers)  # noqa: S301 - our own child wrote it
    except Exception:  # noqa: BLE001 - a half-written result is a crashed child
        raise ImageRejected(
            Reason.DECODER_CRASH, f"the decoder process ended (status {code}) without a result"
        ) from None
    if kind == "ok":
        return value
    raise value


def _memory_error(limits: Limits) -> ImageRejected:
    return ImageRejected(
        Reason.MEMORY_LIMIT,
        f"decoding needed more than the {limits.decode_memory_bytes // 2**20} MiB allowed",
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _child(fd: int, fn: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> None:
    """Never returns: runs fn, writes (kind, value) to fd, and leaves with os._exit."""
    gc.disable()  # a collection would touch, and so copy, every page of the parent's heap
    code = 0
    try:
        _confine(limits, os.getppid())
        try:
            result: tuple[str, Any] = ("ok", fn(*args))
        except ImageRejected as rejected:
            result = ("error", rejected)
        except MemoryError:
            result = ("error", _memory_error(limits))
        except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes is a bad file
            detail = f"{type(exc).__name__}: {exc}"[:400]
            result = ("error", ImageRejected(Reason.CORRUPT, detail))
        try:
            stream, buffers = _dumps(result)
        except MemoryError:
            code = _OUT_OF_MEMORY
        else:
            with os.fdopen(fd, "wb") as out:
                sizes = [memoryview(b).nbytes for b in buffers]
                out.write(struct.pack(f"<QI{len(sizes)}Q", len(stream), len(sizes), *sizes))
                out.write(stream)
                for buffer in buffers:
                    out.write(memoryview(buffer))
    except BaseException:  # noqa: BLE001 - nothing may escape into the parent's code
        code = 2
    finally:
        os._exit(code)


class _Pickler(pickle.Pickler):
    """Sends an image's pixels out of band: written once to the pipe, not copied into the pickle."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Image.Image) and obj.palette is None:
            pixels = pickle.PickleBuffer(obj.tobytes())
            return _image, (obj.mode, obj.size, obj.info, pixels)
        return NotImplemented


def _image(
    mode: str, size: tuple[int, int], info: dict[str | tuple[int, int], Any], pixels: Any
) -> Image.Image:
    img = Image.frombuffer(mode, size, pixels, "raw", mode, 0, 1)
    if img.readonly:  # shares the buffer: make it an ordinary, writable image
        img = img.copy()
    img.info = info
    return img


def _dumps(result: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    out = io.BytesIO()
    buffers: list[pickle.PickleBuffer] = []
    _Pickler(out, protocol=5, buffer_callback=buffers.append).dump(result)
    return out.getvalue(), buffers


def _confine(limits: Limits, parent: int) -> None:
    for name in _RESET_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    faulthandler.disable()  # a crash is reported by the parent, as a reason, not as a dump
    if sys.platform.startswith("linux"):
        # Die with the parent: a Celery hard time limit SIGKILLs the pool process.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(4)
    seconds = max(1, math.ceil(limits.decode_seconds))
    # CPU seconds back up the parent's wall-clock deadline; decoders may run two threads.
    _set_limit(resource.RLIMIT_CPU, 2 * seconds + 1, 2 * seconds + 2)
    # Its own budget on top of what it shares with its parent, whatever the parent's soft limit
    # (a Celery pool process has one, tasks/celery_app.py); never above the hard limit.
    _set_limit(resource.RLIMIT_AS, _address_space() + limits.decode_memory_bytes, None)


def _set_limit(which: int, soft: int, hard: int | None) -> None:
    """Set the soft limit (and lower the hard one), within the hard limit we have."""
    _old_soft, old_hard = resource.getrlimit(which)
    new_hard = old_hard if hard is None else _smaller(old_hard, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (_smaller(soft, new_hard), new_hard))


def _smaller(a: int, b: int) -> int:
    if a == resource.RLIM_INFINITY:
        return b
    if b == resource.RLIM_INFINITY:
        return a
    return min(a, b)


def _address_space() -> int:
    """The child's current virtual size: its ceiling is that plus the decode budget."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
