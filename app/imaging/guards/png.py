"""PNG and APNG: chunks, palettes, animation frames, and compressed text inflated to a budget."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from app.imaging.errors import ImageRejected, Reason
from app.imaging.guards.structure import Budget, Data, Structure, chunk_name, corrupt, truncated
from app.imaging.limits import Limits, MiB

# Pillow refuses a compressed PNG text or ICC chunk that inflates past this (its MAX_TEXT_CHUNK).
PNG_TEXT_CHUNK_LIMIT = 1 * MiB

_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt", b"iCCP"})
_PNG_IMAGE = frozenset({b"IDAT", b"fdAT"})


class _Png:
    """What the PNG walk has seen so far."""

    def __init__(self, data: Data, limits: Limits) -> None:
        self.data = data
        self.limits = limits
        self.budget = Budget(limits, "chunks")
        self.canvas = (0, 0)
        self.colour_type = -1
        self.animated = False
        self.frames = 0
        self.palette = False
        self.image_data = False

    def header(self, kind: bytes, body: int, length: int) -> None:
        if kind != b"IHDR" or length != 13:
            raise corrupt("the PNG does not start with its IHDR header")
        width, height, _depth, self.colour_type = struct.unpack_from(">IIBB", self.data, body)
        self.canvas = (width, height)
        self.limits.check_frame(width, height)

    def chunk(self, kind: bytes, body: int, length: int) -> None:
        if kind in _PNG_IMAGE:
            self.image_data = True
        elif kind == b"PLTE":
            self.plte(length)
        elif kind in (b"acTL", b"fcTL") and length < (8 if kind == b"acTL" else 26):
            raise corrupt(f"the PNG {chunk_name(kind)} chunk is too short")
        elif kind == b"acTL":
            self.animated = True
            (declared,) = struct.unpack_from(">I", self.data, body)
            self.limits.check_total(0, declared)
        elif kind == b"fcTL":
            self.fctl(body)
        elif kind == b"eXIf":
            self.budget.exif(length)
        elif kind in _PNG_TEXT:
            self.budget.meta(length, f"the {chunk_name(kind)} chunk")
            inflated = _png_inflated(self.data, body, length, kind)
            self.budget.meta(inflated, f"the inflated {chunk_name(kind)} chunk", segment=False)

    def plte(self, length: int) -> None:
        """Palette tricks: a palette where none belongs, twice, late, or of a bad length."""
        if self.colour_type in (0, 4):
            raise corrupt("a grayscale PNG carries a palette")
        if self.palette:
            raise corrupt("the PNG has a second PLTE chunk")
        if self.image_data:
            raise corrupt("the PNG's palette comes after its image data")
        if length % 3 or not 3 <= length <= 768:
            raise corrupt(f"a PNG palette of {length} bytes is not 1 to 256 RGB entries")
        self.palette = True

    def fctl(self, body: int) -> None:
        self.frames += 1
        width, height, x, y = struct.unpack_from(">IIII", self.data, body + 4)
        self.limits.check_frame(width, height)
        if x + width > self.canvas[0] or y + height > self.canvas[1]:
            raise corrupt(f"an APNG frame of {width}x{height} at {x},{y} lies outside the image")
        self.limits.check_total(self.frames * self.canvas[0] * self.canvas[1], self.frames)


def walk(data: Data, limits: Limits) -> Structure:
    png = _Png(data, limits)
    for kind, body, length in _png_chunks(data):
        png.budget.chunk()
        if body == 16:
            png.header(kind, body, length)
        elif kind == b"IEND":
            break
        else:
            png.chunk(kind, body, length)
    if not png.image_data:
        raise truncated("the PNG ends before its image data")
    if png.colour_type == 3 and not png.palette:
        raise corrupt("a palette PNG has no PLTE chunk")
    frames = max(1, png.frames) if png.animated else 1
    return png.budget.structure(frames=frames)


def _png_chunks(data: Data) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, length) of each whole chunk; a cut chunk is truncation."""
    size = len(data)
    pos = 8
    while pos + 8 <= size:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF:
            raise corrupt(f"a PNG chunk declares {length} bytes")
        end = pos + 12 + length
        if end > size:
            raise truncated(f"the PNG chunk {chunk_name(kind)} runs past the end of the file")
        yield kind, pos + 8, length
        pos = end


def _png_inflated(data: Data, body: int, length: int, kind: bytes) -> int:
    """Inflated size of a compressed text or ICC chunk, read no further than Pillow's limit."""
    chunk = data[body : body + length]
    keyword_end = chunk.find(b"\x00")
    if keyword_end < 0:
        return 0
    if kind == b"iTXt":
        compressed = chunk[keyword_end + 1 : keyword_end + 2] == b"\x01"
        if not compressed:
            return 0
        rest = chunk[keyword_end + 3 :]
        for _ in range(2):  # language tag, translated keyword
            cut = rest.find(b"\x00")
            if cut < 0:
                return 0
            rest = rest[cut + 1 :]
        stream = rest
    else:
        stream = chunk[keyword_end + 2 :]
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(stream, PNG_TEXT_CHUNK_LIMIT + 1)
    except zlib.error:
        return 0  # Pillow drops a damaged text chunk
    if len(out) > PNG_TEXT_CHUNK_LIMIT:
        raise ImageRejected(
            Reason.METADATA_TOO_LARGE,
            f"the {chunk_name(kind)} chunk inflates from {length} bytes to more than "
            f"{PNG_TEXT_CHUNK_LIMIT} (a zlib bomb)",
        )
    return len(out)
