"""Checks that need more than the first bytes: a bounded walk of the container's structure.

Each walker reads marker segments, chunks, blocks, boxes or directories, never pixels, and stops
at the first verdict. Together they refuse, before any decoder runs:

- sizes declared anywhere in the container (GIF frames that reach outside the screen, WebP
  animation frames, TIFF pages, AVIF/HEIF `ispe` properties), not only the one Pillow reports;
- frame-count bombs, counted with an early stop (Pillow's own count walks every frame in Python);
- progressive-JPEG scan bombs: every scan makes libjpeg pass over every block again;
- zlib and text-chunk bombs: compressed PNG text and ICC chunks are inflated against a budget;
- huge EXIF and metadata, and files made of millions of tiny chunks;
- palette tricks: palettes of the wrong length, in the wrong place or missing;
- truncation: a segment, chunk, box, directory or strip that runs past the end of the file.

The walkers work on `bytes` or an `mmap` of the file, so a 50 MB upload costs no copy.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.imaging import formats
from app.imaging.errors import ImageRejected, Reason
from app.imaging.formats import Format
from app.imaging.limits import Limits, MiB

Data = bytes | mmap.mmap

# Pillow refuses a compressed PNG text or ICC chunk that inflates past this (its MAX_TEXT_CHUNK).
PNG_TEXT_CHUNK_LIMIT = 1 * MiB


@dataclass(frozen=True)
class Structure:
    """What the walk found; None where this format's walker leaves the question to Pillow."""

    frames: int | None = None
    scans: int = 0
    metadata_bytes: int = 0
    chunks: int = 0


def inspect(data: Data, fmt: Format, limits: Limits) -> Structure:
    """Walk the structure of an allow-listed file; raise ImageRejected at the first problem."""
    walker = _WALKERS[fmt.name]
    try:
        return walker(data, limits)
    except (struct.error, IndexError) as exc:
        # A field read past the end of its box or of the file: malformed in a way no walker
        # names (every walker checks the lengths it relies on; this is the net under them).
        raise corrupt(f"the {fmt.name.upper()} structure is malformed ({exc})") from None


def truncated(what: str) -> ImageRejected:
    return ImageRejected(Reason.TRUNCATED, what)


def corrupt(what: str) -> ImageRejected:
    return ImageRejected(Reason.CORRUPT, what)


class _Budget:
    """Counts chunks, metadata segments and metadata bytes against the limits."""

    def __init__(self, limits: Limits, kind: str) -> None:
        self.limits = limits
        self.kind = kind
        self.chunks = 0
        self.segments = 0
        self.metadata = 0
        self.sub_blocks = 0
        self.entries = 0

    def chunk(self) -> None:
        self.chunks += 1
        if self.chunks > self.limits.max_chunks:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"more than {self.limits.max_chunks} {self.kind} in the file",
            )

    def meta(self, size: int, what: str, *, segment: bool = True) -> None:
        self.segments += segment
        self.metadata += size
        if self.segments > self.limits.max_metadata_segments:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"more than {self.limits.max_metadata_segments} metadata {self.kind}",
            )
        if self.metadata > self.limits.max_metadata_bytes:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"{what} brings the metadata to {self.metadata} bytes, over the limit of "
                f"{self.limits.max_metadata_bytes}",
            )

    def exif(self, size: int) -> None:
        if size > self.limits.max_exif_bytes:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"an EXIF block of {size} bytes is over the limit of {self.limits.max_exif_bytes}",
            )
        self.meta(size, "the EXIF block")

    def structure(self, frames: int | None = None, scans: int = 0) -> Structure:
        return Structure(frames, scans, self.metadata, self.chunks)


class _Frames:
    """Frames and their pixels, checked as they are counted so a bomb stops the walk early."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.count = 0
        self.pixels = 0

    def add(self, width: int, height: int) -> None:
        self.limits.check_frame(width, height)
        self.count += 1
        self.pixels += width * height
        self.limits.check_total(self.pixels, self.count)


# --- JPEG -----------------------------------------------------------------------------------

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}


def _jpeg(data: Data, limits: Limits) -> Structure:
    """Marker segments up to the first scan, then an upper bound on the number of scans."""
    budget = _Budget(limits, "segments")
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


# --- PNG ------------------------------------------------------------------------------------

_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt", b"iCCP"})
_PNG_IMAGE = frozenset({b"IDAT", b"fdAT"})


class _Png:
    """What the PNG walk has seen so far."""

    def __init__(self, data: Data, limits: Limits) -> None:
        self.data = data
        self.limits = limits
        self.budget = _Budget(limits, "chunks")
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
            raise corrupt(f"the PNG {_name(kind)} chunk is too short")
        elif kind == b"acTL":
            self.animated = True
            (declared,) = struct.unpack_from(">I", self.data, body)
            self.limits.check_total(0, declared)
        elif kind == b"fcTL":
            self.fctl(body)
        elif kind == b"eXIf":
            self.budget.exif(length)
        elif kind in _PNG_TEXT:
            self.budget.meta(length, f"the {_name(kind)} chunk")
            inflated = _png_inflated(self.data, body, length, kind)
            self.budget.meta(inflated, f"the inflated {_name(kind)} chunk", segment=False)

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


def _png(data: Data, limits: Limits) -> Structure:
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
            raise truncated(f"the PNG chunk {_name(kind)} runs past the end of the file")
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
            f"the {_name(kind)} chunk inflates from {length} bytes to more than "
            f"{PNG_TEXT_CHUNK_LIMIT} (a zlib bomb)",
        )
    return len(out)


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


# --- GIF ------------------------------------------------------------------------------------


def _gif(data: Data, limits: Limits) -> Structure:
    if len(data) < 13:
        raise truncated("the GIF ends inside its header")
    gif = _Gif(data, limits)
    gif.walk()
    return gif.budget.structure(frames=gif.frames.count)


class _Gif:
    def __init__(self, data: Data, limits: Limits) -> None:
        self.data = data
        self.budget = _Budget(limits, "blocks")
        self.frames = _Frames(limits)
        width, height, flags = struct.unpack_from("<HHB", data, 6)
        limits.check_frame(width, height)
        self.canvas = (width, height)
        self.pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)

    def walk(self) -> None:
        data, size = self.data, len(self.data)
        while self.pos < size and data[self.pos] != 0x3B:  # 0x3B: the trailer
            self.budget.chunk()
            block = data[self.pos]
            if block == 0x21:
                done = self.extension()
            elif block == 0x2C:
                done = self.frame()
            elif self.frames.count:
                done = True  # junk after the last frame: decoders stop here too
            else:
                raise corrupt(f"unknown GIF block 0x{block:02X} before the first frame")
            if done:
                break
        if self.frames.count == 0:
            raise truncated("the GIF has no complete frame")

    def extension(self) -> bool:
        """Skip one extension; True when the file ends inside it."""
        start = self.pos
        label = self.data[start + 1] if start + 1 < len(self.data) else 0
        end = _sub_blocks(self.data, start + 2, self.budget)
        if end < 0:
            if self.frames.count == 0:
                raise truncated("the GIF ends inside an extension before its first frame")
            return True
        if label in (0xFE, 0xFF):  # comments and application data (XMP lives there)
            self.budget.meta(end - start, "a GIF comment or application block")
        self.pos = end
        return False

    def frame(self) -> bool:
        """Check and skip one frame; True when the file ends inside it."""
        if self.pos + 10 > len(self.data):
            if self.frames.count == 0:
                raise truncated("the GIF ends inside its first frame's header")
            return True
        left, top, width, height, flags = struct.unpack_from("<HHHHB", self.data, self.pos + 1)
        # Pillow grows the image to cover a frame that reaches outside the logical screen.
        self.canvas = (max(self.canvas[0], left + width), max(self.canvas[1], top + height))
        self.frames.add(*self.canvas)
        pos = self.pos + 10
        if flags & 0x80:
            pos += 3 << ((flags & 7) + 1)
        end = _sub_blocks(self.data, pos + 1, self.budget)
        if end < 0:
            if self.frames.count == 1:
                raise truncated("the GIF ends inside its first frame")
            self.frames.count -= 1
            return True
        self.pos = end
        return False


def _sub_blocks(data: Data, pos: int, budget: _Budget) -> int:
    """Position after a chain of sub-blocks, or -1 when the file ends inside it.

    Encoders write 255-byte sub-blocks, so a 50 MB GIF has about 200,000 of them; a file made of
    1-byte sub-blocks to keep this loop busy is refused after ten times the chunk limit.
    """
    size = len(data)
    cap = budget.limits.max_chunks * 10
    while pos < size:
        length = data[pos]
        if length == 0:
            return pos + 1
        pos += length + 1
        budget.sub_blocks += 1
        if budget.sub_blocks > cap:
            raise corrupt(f"the GIF is cut into more than {cap} data sub-blocks")
    return -1


# --- WebP -----------------------------------------------------------------------------------


def _webp(data: Data, limits: Limits) -> Structure:
    size = len(data)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end_of_riff = 8 + riff_size
    if end_of_riff > size:
        raise truncated(f"the WebP declares {end_of_riff} bytes but the file has {size}")
    budget = _Budget(limits, "chunks")
    frames = _Frames(limits)
    canvas: tuple[int, int] | None = None
    animated = False
    pos = 12
    while pos + 8 <= end_of_riff:
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        end = body + length + (length & 1)
        if body + length > end_of_riff:
            raise truncated(f"the WebP chunk {_name(kind)} runs past the end of the file")
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
            budget.meta(length, f"the WebP {_name(kind).strip()} chunk")
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


# --- TIFF -----------------------------------------------------------------------------------

_TIFF_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TIFF_UNIT |= {13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_METADATA_TAGS = frozenset({700, 33723, 34377, 34675, 37724})  # XMP, IPTC, PS, ICC
_TIFF_MAX_ENTRIES = 65_536  # a page has about 20; a 1,000-page file stays well under this


def _tiff(data: Data, limits: Limits) -> Structure:
    size = len(data)
    if size < 8:
        raise truncated("the TIFF ends inside its header")
    order = "<" if data[:2] == b"II" else ">"
    (magic,) = struct.unpack_from(order + "H", data, 2)
    big = magic == 43
    if big:
        if size < 16:
            raise truncated("the BigTIFF ends inside its header")
        (offset,) = struct.unpack_from(order + "Q", data, 8)
    else:
        (offset,) = struct.unpack_from(order + "I", data, 4)
    budget = _Budget(limits, "directories")
    frames = _Frames(limits)
    seen: set[int] = set()
    while offset and offset not in seen:  # Pillow also stops at a directory it has read
        seen.add(offset)
        budget.chunk()
        tags, offset = _tiff_ifd(data, order, big, offset, budget)
        width, height = _tag_int(data, order, tags, 256), _tag_int(data, order, tags, 257)
        frames.add(width or 0, height or 0)
        if frames.count == 1:
            _tiff_first_page(data, order, tags, limits)
    if not frames.count:
        raise corrupt("the TIFF has no image directory")
    return budget.structure(frames=frames.count)


_Tag = tuple[int, int, int, int]  # type, count, value-or-offset, position of the value


def _tiff_ifd(
    data: Data, order: str, big: bool, offset: int, budget: _Budget
) -> tuple[dict[int, _Tag], int]:
    size = len(data)
    count_fmt, entry, head, tail = ("Q", 20, 8, 8) if big else ("H", 12, 2, 4)
    if offset + head > size:
        raise truncated(f"a TIFF directory at byte {offset} lies past the end of the file")
    (count,) = struct.unpack_from(order + count_fmt, data, offset)
    end = offset + head + count * entry
    if end + tail > size:
        raise truncated(f"a TIFF directory of {count} entries runs past the end of the file")
    budget.entries += count
    if budget.entries > _TIFF_MAX_ENTRIES:
        raise ImageRejected(
            Reason.METADATA_TOO_LARGE,
            f"the TIFF directories hold more than {_TIFF_MAX_ENTRIES} entries",
        )
    tags: dict[int, _Tag] = {}
    value_fmt = order + ("HHQQ" if big else "HHII")
    inline = 8 if big else 4
    for index in range(count):
        at = offset + head + index * entry
        tag, kind, number, value = struct.unpack_from(value_fmt, data, at)
        value_at = at + (12 if big else 8)
        nbytes = number * _TIFF_UNIT.get(kind, 1)
        if nbytes > inline:
            value_at = value
            if tag in _TIFF_METADATA_TAGS:
                budget.meta(nbytes, f"TIFF tag {tag}")
        tags[tag] = (kind, number, value, value_at)
    (next_offset,) = struct.unpack_from(order + ("Q" if big else "I"), data, end)
    return tags, next_offset


def _tag_int(data: Data, order: str, tags: dict[int, _Tag], tag: int) -> int | None:
    entry = tags.get(tag)
    if entry is None:
        return None
    values = _tag_ints(data, order, entry, 1)
    return values[0] if values else None


def _tag_ints(data: Data, order: str, entry: _Tag, cap: int) -> list[int]:
    kind, number, _value, at = entry
    unit = {3: "H", 4: "I", 16: "Q"}.get(kind)
    if unit is None or number > cap or number == 0:
        return []
    number = min(number, cap)
    fmt = f"{order}{number}{unit}"
    if at + struct.calcsize(fmt) > len(data):
        raise truncated("a TIFF tag's values run past the end of the file")
    return list(struct.unpack_from(fmt, data, at))


def _tiff_first_page(data: Data, order: str, tags: dict[int, _Tag], limits: Limits) -> None:
    """The page we decode: its pixel data must be in the file, its palette the right length."""
    size = len(data)
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        if offsets_tag not in tags or counts_tag not in tags:
            continue
        offsets = _tag_ints(data, order, tags[offsets_tag], limits.max_chunks)
        counts = _tag_ints(data, order, tags[counts_tag], limits.max_chunks)
        for start, length in zip(offsets, counts, strict=False):
            if start + length > size:
                raise truncated(
                    f"TIFF pixel data at byte {start} runs past the end of the file ({size} bytes)"
                )
    if _tag_int(data, order, tags, 262) == 3:  # palette colour
        bits = _tag_int(data, order, tags, 258) or 1
        colour_map = tags.get(320)
        if colour_map is None or bits > 16 or colour_map[1] != 3 << bits:
            have = colour_map[1] if colour_map else 0
            raise corrupt(f"a {bits}-bit palette TIFF has a colour map of {have} values")


# --- AVIF and HEIF (ISO base media) ------------------------------------------------------


def _isobmff(data: Data, limits: Limits) -> Structure:
    size = len(data)
    budget = _Budget(limits, "boxes")
    meta: tuple[int, int] | None = None
    for kind, body, end in _boxes(data, 0, size, budget, top=True):
        if kind == b"meta":
            meta = (body + 4, end)  # a full box: version and flags first
    if meta is not None:  # an image sequence may keep everything in moov: libavif checks it
        _heif_meta(data, meta[0], meta[1], budget, limits)
    return budget.structure()


def _boxes(
    data: Data, start: int, stop: int, budget: _Budget, *, top: bool = False
) -> list[tuple[bytes, int, int]]:
    """(type, body start, end) of each box between start and stop."""
    out = []
    pos = start
    while pos + 8 <= stop:
        budget.chunk()
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if length == 1:
            if pos + 16 > stop:
                raise truncated(f"the {_name(kind)} box ends inside its header")
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            body = pos + 16
        elif length == 0:
            length = stop - pos  # runs to the end of its parent
        end = pos + length
        if end < body:
            raise corrupt(f"the {_name(kind)} box declares {length} bytes")
        if end > stop:
            where = "the file" if top else "its parent box"
            raise truncated(f"the {_name(kind)} box runs past the end of {where}")
        out.append((kind, body, end))
        pos = end
    if top and pos < stop:
        raise truncated("the file ends inside a box header")
    return out


def _heif_meta(data: Data, start: int, stop: int, budget: _Budget, limits: Limits) -> None:
    children = {kind: (body, end) for kind, body, end in _boxes(data, start, stop, budget)}
    if b"iprp" in children:
        for kind, body, end in _boxes(data, *children[b"iprp"], budget):
            if kind != b"ipco":
                continue
            for prop, prop_body, prop_end in _boxes(data, body, end, budget):
                if prop == b"ispe" and prop_end - prop_body >= 12:
                    width, height = struct.unpack_from(">II", data, prop_body + 4)
                    limits.check_frame(width, height)
    exif_items = _heif_items_of_type(data, children.get(b"iinf"), b"Exif", budget)
    if exif_items and b"iloc" in children:
        extents = _heif_extents(data, *children[b"iloc"], budget)
        for item in exif_items:
            total = 0
            for offset, length in extents.get(item, []):
                if offset + length > len(data):
                    raise truncated("the EXIF item runs past the end of the file")
                total += length
            budget.exif(total)


def _heif_items_of_type(
    data: Data, iinf: tuple[int, int] | None, wanted: bytes, budget: _Budget
) -> list[int]:
    if iinf is None:
        return []
    start, stop = iinf
    version = data[start]
    first = start + 4 + (2 if version == 0 else 4)
    found = []
    for kind, body, end in _boxes(data, first, stop, budget):
        if kind != b"infe" or end - body < 12:
            continue
        infe_version = data[body]
        if infe_version < 2:
            continue
        if infe_version == 2:
            (item,) = struct.unpack_from(">H", data, body + 4)
            item_type = data[body + 8 : body + 12]
        else:
            (item,) = struct.unpack_from(">I", data, body + 4)
            item_type = data[body + 10 : body + 14]
        if item_type == wanted:
            found.append(item)
    return found


def _heif_extents(
    data: Data, start: int, stop: int, budget: _Budget
) -> dict[int, list[tuple[int, int]]]:
    """Item ID -> [(file offset, length)] for items stored in the file (construction method 0)."""
    version = data[start]
    pos = start + 4
    sizes = data[pos]
    offset_size, length_size = sizes >> 4, sizes & 15
    base_size = data[pos + 1] >> 4
    index_size = data[pos + 1] & 15 if version in (1, 2) else 0
    pos += 2
    count_fmt = ">H" if version < 2 else ">I"
    (items,) = struct.unpack_from(count_fmt, data, pos)
    pos += struct.calcsize(count_fmt)
    read = _sized_reader(data, stop)
    extents: dict[int, list[tuple[int, int]]] = {}
    for _ in range(items):
        budget.chunk()
        item, pos = read(pos, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            method_field, pos = read(pos, 2)
            method = method_field & 15
        _reference, pos = read(pos, 2)
        base, pos = read(pos, base_size)
        count, pos = read(pos, 2)
        for _ in range(count):
            budget.chunk()
            _index, pos = read(pos, index_size)
            offset, pos = read(pos, offset_size)
            length, pos = read(pos, length_size)
            if method == 0:
                extents.setdefault(item, []).append((base + offset, length))
    return extents


def _sized_reader(data: Data, stop: int) -> Callable[[int, int], tuple[int, int]]:
    def read(pos: int, width: int) -> tuple[int, int]:
        if pos + width > stop:
            raise corrupt("the iloc box ends early")
        return int.from_bytes(data[pos : pos + width], "big"), pos + width

    return read


_WALKERS: dict[str, Callable[[Data, Limits], Structure]] = {
    formats.JPEG.name: _jpeg,
    formats.PNG.name: _png,
    formats.GIF.name: _gif,
    formats.WEBP.name: _webp,
    formats.TIFF.name: _tiff,
    formats.AVIF.name: _isobmff,
    formats.HEIF.name: _isobmff,
}
