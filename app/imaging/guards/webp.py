"""WebP: RIFF chunks, the canvas, animation frames and the VP8/VP8L frame sizes."""

from __future__ import annotations

import struct

from app.imaging.guards.structure import (
    Budget,
    Data,
    Frames,
    Structure,
    chunk_name,
    corrupt,
    truncated,
)
from app.imaging.limits import Limits


def walk(data: Data, limits: Limits) -> Structure:
    size = len(data)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end_of_riff = 8 + riff_size
    if end_of_riff > size:
        raise truncated(f"the WebP declares {end_of_riff} bytes but the file has {size}")
    budget = Budget(limits, "chunks")
    frames = Frames(limits)
    canvas: tuple[int, int] | None = None
    animated = False
    pos = 12
    while pos + 8 <= end_of_riff:
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        end = body + length + (length & 1)
        if body + length > end_of_riff:
            raise truncated(f"the WebP chunk {chunk_name(kind)} runs past the end of the file")
        budget.chunk()
        if kind == b"VP8X" and length >= 10:
            flags = data[body]
            animated = bool(flags & 0x02)
            canvas = (_u24(data, body + 4) + 1, _u24(data, body + 7) + 1)
            limits.check_frame(*canvas)
        elif kind == b"ANMF" and length >= 16:
            fx, fy = _u24(data, body) * 2, _u24(data, body + 3) * 2
            fw, fh = _u24(data, body + 6) + 1, _u24(data, body + 9) + 1
            if canvas and (fx + fw > canvas[0] or fy + fh > canvas[1]):
                raise corrupt(f"a WebP frame of {fw}x{fh} at {fx},{fy} lies outside the canvas")
            frames.add(*(canvas or (fw, fh)))
        elif kind in (b"VP8 ", b"VP8L"):
            width, height = _vp8_size(data, body, length, kind)
            limits.check_frame(width, height)
            if not animated:
                frames.add(*(canvas or (width, height)))
        elif kind == b"EXIF":
            budget.exif(length)
        elif kind in (b"XMP ", b"ICCP"):
            budget.meta(length, f"the WebP {chunk_name(kind).strip()} chunk")
        pos = end
    if frames.count == 0:
        raise truncated("the WebP has no image data")
    return budget.structure(frames=frames.count)


def _u24(data: Data, pos: int) -> int:
    return int(data[pos]) | int(data[pos + 1]) << 8 | int(data[pos + 2]) << 16


def _vp8_size(data: Data, body: int, length: int, kind: bytes) -> tuple[int, int]:
    if kind == b"VP8L":
        if length < 5 or data[body] != 0x2F:
            raise corrupt("a lossless WebP frame has no VP8L signature")
        (bits,) = struct.unpack_from("<I", data, body + 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if length < 10 or data[body + 3 : body + 6] != b"\x9d\x01\x2a":
        raise corrupt("a lossy WebP frame has no VP8 start code")
    width, height = struct.unpack_from("<HH", data, body + 6)
    return width & 0x3FFF, height & 0x3FFF
