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
  and the calling process (a Celery pool process) lives on;
- a child found asleep at the deadline, not decoding, is not the file's fault: it is killed and
  the decode runs once more in a new child. A fork copies every lock of the parent as it was,
  and one that another thread (the lease renewal, an encode) held at that moment is never
  released in the child; a decoder is never asleep for long on its own (it computes, or waits
  for the disk). A loaded test run saw a 200x200 PNG end `decode_timeout` once; its child's
  state was not recorded then, and is now (in the detail and a warning).

The result comes back through a pipe (wire.py): a pickle, with the pixels written out of band
(not copied into it). The child shares the parent's imported modules, so nothing is imported
again. A round trip costs about 5 ms; decoding a 12 MP JPEG this way costs 35-55 ms more than
in process, mostly copy-on-write page faults and the 8 MB master's trip back
(docs/robustness.md). POSIX.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import fcntl
import gc
import logging
import math
import os
import pickle
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from app.imaging import wire
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits
from app.imaging.pipeline import Master
from app.imaging.pipeline import load_master as _load_master
from app.imaging.plugins import register_plugins

T = TypeVar("T")
log = logging.getLogger(__name__)

_RESET_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
_PR_SET_PDEATHSIG = 1
PIPE_SIZE = 1 << 20
# Asleep with nothing to wait for (a lock nobody will release), or stopped: not decoding.
_ASLEEP = frozenset("STt")
_OUT_OF_MEMORY = 3  # the child's exit code when even the result did not fit


def load_master(path: Path, limits: Limits) -> Master:
    """`app.imaging.pipeline.load_master` (probe, decode, master resize) under the limits."""
    # Imported here, before the fork, not by the child: an import in a child can wait for ever
    # on a module lock another thread of this process held at the fork (a fresh pool process's
    # first decode, a first render in a threaded API worker). It costs this process nothing new:
    # its first encode imports the same.
    register_plugins()
    return run_limited(_load_master, path, limits, limits=limits)


def run_limited(
    fn: Callable[..., T], *args: Any, limits: Limits, pass_interrupts: bool = False
) -> T:
    """fn(*args) in a forked child; its ImageRejected comes back as is, every failure as one.

    With pass_interrupts, an exception raised in this process while it waits (Celery's soft
    time limit) kills the child and propagates as it is, not as a decode timeout.
    """
    first = _run_once(fn, args, limits, pass_interrupts)
    if not isinstance(first, _Stall):
        return first
    log.warning("a decode child stalled (%s); running the decode again in a new one", first)
    again = _run_once(fn, args, limits, pass_interrupts)
    if not isinstance(again, _Stall):
        return again
    raise ImageRejected(
        Reason.DECODE_TIMEOUT,
        f"decoding made no progress in {limits.decode_seconds:g} s, twice ({first}; {again})",
    )


class _Stall(str):
    """What a child found asleep at its deadline was doing: state, kernel wait, CPU used."""


def _run_once(fn: Callable[..., T], args: Any, limits: Limits, pass_interrupts: bool) -> T | _Stall:
    started = time.monotonic()
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # Linux: fewer round trips for the image
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(write_end, fn, args, limits)
    os.close(write_end)
    try:
        payload = wire.collect(read_end, started + limits.decode_seconds)
    except wire.Deadline:
        state, cpu_seconds, waiting_in = _progress(pid)
        _kill(pid)
        if state in _ASLEEP and "pipe" not in waiting_in:  # not while it hands its result over
            return _Stall(f"state {state} in {waiting_in}, {cpu_seconds:.2f} CPU-s used")
        raise ImageRejected(
            Reason.DECODE_TIMEOUT,
            f"decoding took longer than {limits.decode_seconds:g} s and was stopped "
            f"({cpu_seconds:.1f} CPU-s used)",
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


def _progress(pid: int) -> tuple[str, float, str]:
    """The child's scheduler state (R running or runnable, D waiting for the disk, S asleep...),
    the CPU it has used, and the kernel function it waits in; "?" where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        state, cpu_seconds = fields[0], ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return "?", 0.0, "?"
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            waiting_in = wchan.read().strip() or "?"
    except OSError:
        waiting_in = "?"
    return state, cpu_seconds, waiting_in


def _outcome(payload: tuple[bytearray | None, list[bytearray]], status: int, limits: Limits) -> Any:
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
        kind, value = pickle.loads(stream or b"", buffers=buffers)  # noqa: S301 - our child's
    except Exception:  # noqa: BLE001 - a half-written result is a crashed child
        raise ImageRejected(
            Reason.DECODER_CRASH, f"the decoder process ended (status {code}) without a result"
        ) from None
    if kind == "ok":
        return value
    raise value


def outcome(fn: Callable[..., Any], args: Any, out_of_memory: ImageRejected) -> tuple[str, Any]:
    """fn(*args) as a child reports it: ("ok", value) or ("error", ImageRejected)."""
    try:
        return ("ok", fn(*args))
    except ImageRejected as rejected:
        return ("error", rejected)
    except MemoryError:
        return ("error", out_of_memory)
    except Exception as exc:  # noqa: BLE001 - a decoder bug on hostile bytes is a bad file
        detail = f"{type(exc).__name__}: {exc}"[:400]
        return ("error", ImageRejected(Reason.CORRUPT, detail))


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
        result = outcome(fn, args, _memory_error(limits))
        try:
            pieces = wire.frame(result)
        except MemoryError:
            code = _OUT_OF_MEMORY
        else:
            with os.fdopen(fd, "wb") as out:
                for piece in pieces:
                    out.write(piece)
    except BaseException:  # noqa: BLE001 - nothing may escape into the parent's code
        code = 2
    finally:
        os._exit(code)


def _confine(limits: Limits, parent: int) -> None:
    for name in _RESET_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    faulthandler.disable()  # a crash is reported by the parent, as a reason, not as a dump
    die_with_parent(parent)
    seconds = max(1, math.ceil(limits.decode_seconds))
    # CPU seconds back up the parent's wall-clock deadline; decoders may run two threads.
    set_limit(resource.RLIMIT_CPU, 2 * seconds + 1, 2 * seconds + 2)
    # Its own budget on top of what it shares with its parent, whatever the parent's soft limit
    # (a Celery pool process has one, tasks/celery_app.py); never above the hard limit.
    set_limit(resource.RLIMIT_AS, address_space() + limits.decode_memory_bytes, None)


def die_with_parent(parent: int) -> None:
    """SIGKILL when the parent goes (a Celery hard time limit SIGKILLs the pool process).

    Linux only. The signal comes when the thread that started this process ends, so a caller
    on another thread than the main one should not rely on it alone.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(4)


def set_limit(which: int, soft: int, hard: int | None) -> None:
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


def address_space() -> int:
    """The child's current virtual size: its ceiling is that plus the decode budget."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
