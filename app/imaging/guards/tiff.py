"""TIFF and BigTIFF: every directory (page), its metadata tags, and the first page's strips."""

from __future__ import annotations

import struct

from app.imaging.errors import ImageRejected, Reason
from app.imaging.guards.structure import Budget, Data, Frames, Structure, corrupt, truncated
from app.imaging.limits import Limits

_TIFF_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TIFF_UNIT |= {13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_METADATA_TAGS = frozenset({700, 33723, 34377, 34675, 37724})  # XMP, IPTC, PS, ICC
_TIFF_MAX_ENTRIES = 65_536  # a page has about 20; a 1,000-page file stays well under this


def walk(data: Data, limits: Limits) -> Structure:
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
    budget = Budget(limits, "directories")
    frames = Frames(limits)
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
    data: Data, order: str, big: bool, offset: int, budget: Budget
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
