"""JPEG: marker segments up to the first scan, then an upper bound on the number of scans."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from app.imaging.errors import ImageRejected, Reason
from app.imaging.guards.structure import Budget, Data, Structure, corrupt, truncated
from app.imaging.limits import Limits

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}


def walk(data: Data, limits: Limits) -> Structure:
    """Marker segments up to the first scan, then an upper bound on the number of scans."""
    budget = Budget(limits, "segments")
    frame: tuple[int, int] | None = None
    for marker, pos, length in _jpeg_segments(data):
        budget.chunk()
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            if marker == 0xE1 and data[pos + 2 : pos + 8] == b"Exif\x00\x00":
                budget.exif(max(0, length - 8))
            else:
                budget.meta(length, "a comment" if marker == 0xFE else f"APP{marker - 0xE0}")
        elif marker in _SOF and frame is None:
            if length < 8:
                raise corrupt("a JPEG frame header is too short")
            height, width, components = struct.unpack_from(">HHB", data, pos + 3)
            limits.check_frame(width, height)
            frame = (marker, components)
        elif marker == 0xDA:
            if frame is None:
                raise corrupt("the JPEG has a scan but no frame header")
            if length < 3:
                raise corrupt("a JPEG scan header is too short")
            sof, components = frame
            if sof not in _PROGRESSIVE and data[pos + 2] >= components:
                # One interleaved sequential scan: libjpeg stops with an error at a second one.
                return budget.structure(scans=1)
            return budget.structure(scans=_count_scans(data, pos, limits))
    raise AssertionError("unreachable: _jpeg_segments ends at the first scan or raises")


def _jpeg_segments(data: Data) -> Iterator[tuple[int, int, int]]:
    """(marker, position of the length field, length) of each segment, up to the first scan."""
    size = len(data)
    pos = 2
    while True:
        pos = _next_marker(data, pos)
        marker = data[pos + 1]
        pos += 2
        if marker in _STANDALONE:
            continue
        if marker == 0xD9:
            raise corrupt("the JPEG ends (EOI) before any image data")
        if pos + 2 > size:
            raise truncated("the JPEG ends inside a segment header")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise corrupt(f"a JPEG segment declares a length of {length}")
        if pos + length > size:
            raise truncated(
                f"a JPEG segment (marker 0x{marker:02X}) of {length} bytes runs past the end "
                f"of the file"
            )
        yield marker, pos, length
        if marker == 0xDA:
            return
        pos += length


def _next_marker(data: Data, pos: int) -> int:
    """Position of the next marker's 0xFF, skipping stray and fill bytes as libjpeg does."""
    size = len(data)
    if pos < size and data[pos] != 0xFF:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            pos = size
    while pos + 1 < size and data[pos + 1] == 0xFF:
        pos += 1
    if pos + 1 >= size:
        raise truncated("the JPEG ends before its first scan")
    return pos


_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_START_OF_SCAN = re.compile(rb"\xff\xda")


def _count_scans(data: Data, first_scan: int, limits: Limits) -> int:
    """Start-of-scan markers from the first scan on: an upper bound on the scans libjpeg decodes.

    libjpeg decodes a progressive or non-interleaved JPEG scan by scan into a buffer of the whole
    image, so each scan costs a pass over every block. Inside entropy-coded data a 0xFF byte is
    always followed by 0x00 or a marker, so every real scan is counted; a table that happens to
    hold the bytes FF DA can only over-count.
    """
    scans = 1  # the first, whose marker is behind first_scan
    for _match in _START_OF_SCAN.finditer(data, first_scan):
        scans += 1
        if scans > limits.max_scans:
            raise ImageRejected(
                Reason.TOO_MANY_SCANS,
                f"the JPEG has more than {limits.max_scans} scans; each one makes the decoder "
                f"pass over the whole image again",
            )
    return scans
