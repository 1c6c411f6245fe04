"""AVIF and HEIF (ISO base media): boxes, `ispe` sizes and the EXIF item's extents."""

from __future__ import annotations

import struct
from collections.abc import Callable

from app.imaging.guards.structure import Budget, Data, Structure, chunk_name, corrupt, truncated
from app.imaging.limits import Limits


def walk(data: Data, limits: Limits) -> Structure:
    size = len(data)
    budget = Budget(limits, "boxes")
    meta: tuple[int, int] | None = None
    for kind, body, end in _boxes(data, 0, size, budget, top=True):
        if kind == b"meta":
            meta = (body + 4, end)  # a full box: version and flags first
    if meta is not None:  # an image sequence may keep everything in moov: libavif checks it
        _heif_meta(data, meta[0], meta[1], budget, limits)
    return budget.structure()


def _boxes(
    data: Data, start: int, stop: int, budget: Budget, *, top: bool = False
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
                raise truncated(f"the {chunk_name(kind)} box ends inside its header")
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            body = pos + 16
        elif length == 0:
            length = stop - pos  # runs to the end of its parent
        end = pos + length
        if end < body:
            raise corrupt(f"the {chunk_name(kind)} box declares {length} bytes")
        if end > stop:
            where = "the file" if top else "its parent box"
            raise truncated(f"the {chunk_name(kind)} box runs past the end of {where}")
        out.append((kind, body, end))
        pos = end
    if top and pos < stop:
        raise truncated("the file ends inside a box header")
    return out


def _heif_meta(data: Data, start: int, stop: int, budget: Budget, limits: Limits) -> None:
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
    data: Data, iinf: tuple[int, int] | None, wanted: bytes, budget: Budget
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
    data: Data, start: int, stop: int, budget: Budget
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
