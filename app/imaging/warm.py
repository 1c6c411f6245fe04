"""A warm encoder child: one small process, started once and reused for every image's AVIFs.

Why a child at all: contained.py (SVT-AV1 can die of SIGSEGV near an address-space ceiling).
Why warm: forking the pool process for every image cost 0.11-0.14 CPU-s an image
(docs/benchmarks.md, Run 3): the page tables and copy-on-write faults of a big parent, and a fresh
heap whose pages SVT-AV1's buffers fault in again each time. This child is started fresh with
`python -m app.imaging.warm` (subprocess: vfork and exec, whatever the caller's size), imports
Pillow and the AVIF plugin once, and keeps its heap from one image to the next. A job (a function
by reference, its arguments, the pixels out of band) goes down a pipe and the result comes back
up another (wire.py); it is the only copy of the pixels, about 13 MB for a photo's AVIF widths.

Limits, per job, as the decode sandbox's (sandbox.py): the caller waits at most
`limits.decode_seconds`, then kills the child; RLIMIT_CPU, raised before each job to what the child
has used plus twice that, backs up the wait; RLIMIT_AS is the child's size once ready plus
`limits.decode_memory_bytes`. A child that dies (a signal), runs out of time or reports any failure
is killed and waited for, and the next job starts a new one; the caller (contained.py) encodes the
failed job with libaom. The child ends with its parent: PR_SET_PDEATHSIG, and the end of its input.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import math
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from app.imaging import sandbox, wire
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits

log = logging.getLogger(__name__)

MODULE = "app.imaging.warm"
ROOT = Path(__file__).resolve().parents[2]  # where `app` is importable from
KEEP = 2  # idle children kept per process: one per thread that renders at the same time
_OUT_OF_MEMORY = 3  # the child's exit code when even its result did not fit
_EXIT_WAIT_SECONDS = 5.0  # a child that closed its end is exiting: wait this long, then kill


class WarmChild:
    """The parent's handle on one encoder child; not shared between threads (see `borrowed`)."""

    def __init__(self) -> None:
        self.owner = os.getpid()  # a forked copy of this handle must not use the parent's pipes
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child unless it is running; returns at once (it imports while we work)."""
        if self.alive():
            return
        self.stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        # PR_SET_PDEATHSIG fires when the starting *thread* ends: only the main thread may ask.
        main = threading.current_thread() is threading.main_thread()
        command = [sys.executable, "-m", MODULE, str(os.getpid()), "1" if main else "0"]
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True
        )
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        os.set_blocking(self._proc.stdin.fileno(), False)  # writes wait on a deadline
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError, AttributeError):  # Linux: fewer round trips
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, sandbox.PIPE_SIZE)

    def stop(self) -> None:
        """Kill the child (if any) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def run(self, fn: Callable[..., Any], *args: Any, limits: Limits) -> Any:
        """fn(*args) in the child. Its ImageRejected comes back as is, every failure as one.

        An exception raised here while waiting (Celery's soft time limit) kills the child and
        propagates as it is.
        """
        self.start()
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        deadline = time.monotonic() + limits.decode_seconds
        try:
            wire.send(proc.stdin.fileno(), (fn, args, limits), deadline)
            kind, value = wire.receive(proc.stdout.fileno(), deadline)
        except wire.Deadline:
            self.stop()
            raise ImageRejected(
                Reason.DECODE_TIMEOUT,
                f"encoding took longer than {limits.decode_seconds:g} s and was stopped",
            ) from None
        except (wire.Ended, pickle.UnpicklingError, EOFError, ValueError):
            raise self._ended(limits) from None
        except BaseException:
            self.stop()
            raise
        if kind == "ok":
            return value
        self.stop()  # a failed job may leave the encoder's state or heap unsound: start afresh
        raise value

    def _ended(self, limits: Limits) -> ImageRejected:
        """Why the child stopped answering, from its exit status; it is gone afterwards."""
        proc = self._proc
        assert proc is not None
        try:
            code = proc.wait(_EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        self.stop()
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGXCPU:
                return ImageRejected(
                    Reason.DECODE_TIMEOUT, f"the encoder used up its CPU time and got {name}"
                )
            return ImageRejected(Reason.DECODER_CRASH, f"the encoder process died on {name}")
        if code == _OUT_OF_MEMORY:
            return _memory_error(limits)
        return ImageRejected(
            Reason.DECODER_CRASH, f"the encoder process ended (status {code}) without a result"
        )


_idle: list[WarmChild] = []
_idle_lock = threading.Lock()


@contextlib.contextmanager
def borrowed() -> Iterator[WarmChild]:
    """A started child for this thread's job, given back (kept warm) afterwards."""
    with _idle_lock:
        _idle[:] = [c for c in _idle if c.owner == os.getpid()]  # not a forked parent's
        child = _idle.pop() if _idle else WarmChild()
    child.start()
    try:
        yield child
    finally:
        with _idle_lock:
            keep = len(_idle) < KEEP and child.owner == os.getpid()
            if keep:
                _idle.append(child)
        if not keep:
            child.stop()


def idle_pids() -> list[int]:
    """The pids of this process's warm children (for benchmarks and tests)."""
    with _idle_lock:
        return [c.pid for c in _idle if c.owner == os.getpid() and c.pid is not None]


def stop_all() -> None:
    """Stop this process's idle children (they would also end with it)."""
    with _idle_lock:
        mine = list(_idle)
        _idle.clear()
    for child in mine:
        child.stop()


atexit.register(stop_all)


def _memory_error(limits: Limits) -> ImageRejected:
    return ImageRejected(
        Reason.MEMORY_LIMIT,
        f"encoding needed more than the {limits.decode_memory_bytes // 2**20} MiB allowed",
    )


# --- The child ----------------------------------------------------------------------------------


def serve(parent: int, die_with_parent: bool) -> None:
    """The child's loop: one job at a time from stdin, each result to stdout, until stdin ends."""
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # a library's stray print must not land among the results
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # its parent ends it (Ctrl-C reaches the group)
    if die_with_parent:
        sandbox.die_with_parent(parent)
    elif os.getppid() != parent:
        os._exit(4)
    from app.imaging.arenas import limit_malloc_arenas
    from app.imaging.plugins import register_plugins

    limit_malloc_arenas()  # as in the worker: SVT-AV1's threads would each get an arena
    register_plugins()
    ready_size = sandbox.address_space()
    while True:
        try:
            fn, args, limits = wire.receive(requests)
        except wire.Ended:
            os._exit(0)
        _confine(limits, ready_size)
        result = sandbox.outcome(fn, args, _memory_error(limits))  # the parent falls back
        try:
            wire.send(replies, result)
        except MemoryError:
            os._exit(_OUT_OF_MEMORY)
        except wire.Ended:
            os._exit(0)


def _confine(limits: Limits, ready_size: int) -> None:
    """This job's CPU and address-space ceilings (the hard limits stay: later jobs raise them)."""
    seconds = max(1, math.ceil(limits.decode_seconds))
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = math.ceil(used.ru_utime + used.ru_stime)
    sandbox.set_limit(resource.RLIMIT_CPU, spent + 2 * seconds + 1, None)
    sandbox.set_limit(resource.RLIMIT_AS, ready_size + limits.decode_memory_bytes, None)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    serve(int(sys.argv[1]), sys.argv[2] == "1")
