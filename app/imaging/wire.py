"""A pickle over a pipe, with an image's pixels sent out of band (not copied into the pickle).

One message: a header (the pickle's length, the buffers' count, each buffer's size), the pickle,
then each buffer. The decode sandbox (sandbox.py) sends one result back this way; the warm
encoder child (warm.py) takes its jobs and returns its results this way. Reads and writes wait
at most until a deadline (time.monotonic()), so a stuck peer cannot hold the caller.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import select
import struct
import time
from typing import Any

from PIL import Image

_HEADER = struct.Struct("<QI")


class Deadline(Exception):
    """The peer did not read or write in time."""


class Ended(Exception):
    """The peer closed its end, or sent half a message (it died while writing)."""


def dumps(obj: Any) -> tuple[bytes, list[pickle.PickleBuffer]]:
    out = io.BytesIO()
    buffers: list[pickle.PickleBuffer] = []
    _Pickler(out, protocol=5, buffer_callback=buffers.append).dump(obj)
    return out.getvalue(), buffers


def frame(obj: Any) -> list[memoryview]:
    """obj as one message's pieces, in the order they go down the pipe."""
    stream, buffers = dumps(obj)
    sizes = [memoryview(b).nbytes for b in buffers]
    header = _HEADER.pack(len(stream), len(sizes)) + struct.pack(f"<{len(sizes)}Q", *sizes)
    return [memoryview(header), memoryview(stream), *(memoryview(b).cast("B") for b in buffers)]


def send(fd: int, obj: Any, deadline: float | None = None) -> None:
    """Write one message; with a deadline, fd must be non-blocking."""
    for piece in frame(obj):
        _write_all(fd, piece, deadline)


def receive(fd: int, deadline: float | None = None) -> Any:
    """Read one message and unpickle it; Ended when the peer closed before a whole one."""
    stream, buffers = collect(fd, deadline)
    if stream is None:
        raise Ended
    return pickle.loads(stream, buffers=buffers)  # noqa: S301 - our own child or parent wrote it


def collect(fd: int, deadline: float | None) -> tuple[bytearray | None, list[bytearray]]:
    """The raw pickle and its buffers, each read once; (None, []) when the message is short."""
    header = _read_into(fd, bytearray(_HEADER.size), deadline)
    if len(header) < _HEADER.size:
        return None, []
    length, count = _HEADER.unpack(header)
    raw_sizes = _read_into(fd, bytearray(8 * count), deadline)
    if len(raw_sizes) < 8 * count:
        return None, []
    stream = _read_into(fd, bytearray(length), deadline)
    buffers = []
    for size in struct.unpack(f"<{count}Q", raw_sizes):
        buffers.append(_read_into(fd, bytearray(size), deadline))
        if len(buffers[-1]) < size:
            return None, []
    return (stream, buffers) if len(stream) == length else (None, [])


def _wait(fd: int, event: int, deadline: float | None) -> None:
    if deadline is None:
        return
    waiter = select.poll()  # not select(): a busy worker may hold descriptors past 1024
    waiter.register(fd, event)
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not waiter.poll(math.ceil(remaining * 1000)):
        raise Deadline


def _read_into(fd: int, buffer: bytearray, deadline: float | None) -> bytearray:
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        _wait(fd, select.POLLIN, deadline)
        got = os.readv(fd, [view[filled:]])
        if not got:
            break
        filled += got
    view.release()
    return buffer[:filled] if filled < len(buffer) else buffer


def _write_all(fd: int, piece: memoryview, deadline: float | None) -> None:
    while piece.nbytes:
        _wait(fd, select.POLLOUT, deadline)
        try:
            written = os.write(fd, piece)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            raise Ended from None
        piece = piece[written:]


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
