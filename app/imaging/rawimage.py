"""Decoded images as bytes: how the resized sizes travel between tasks without being encoded again.

One blob holds a whole pyramid (every width a variant needs), so later stages only encode. Raw
pixels cost no CPU to write or read; a 12 MP photo's pyramid (1920 px down to 160 px) is ~11 MB.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

from PIL import Image

_MAGIC = b"IPRAW2\n"
_MODES = frozenset({"RGB", "RGBA", "L", "LA"})


def dump_set(images: Mapping[int, Image.Image]) -> bytes:
    """Images keyed by width (an image may appear under several keys; its pixels are kept once)."""
    entries: list[dict[str, object]] = []
    chunks: list[bytes] = []
    offsets: dict[int, int] = {}
    offset = 0
    for key, img in images.items():
        if img.mode not in _MODES:
            raise ValueError(f"mode {img.mode} is not a master mode")
        if id(img) not in offsets:
            pixels = img.tobytes()
            offsets[id(img)] = offset
            chunks.append(pixels)
            offset += len(pixels)
        entries.append(
            {"key": key, "mode": img.mode, "size": list(img.size), "offset": offsets[id(img)]}
        )
    header = json.dumps(entries).encode()
    return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *chunks])


def load_set(data: bytes) -> dict[int, Image.Image]:
    if not data.startswith(_MAGIC):
        raise ValueError("not a raw master image")
    start = len(_MAGIC)
    (length,) = struct.unpack(">I", data[start : start + 4])
    entries = json.loads(data[start + 4 : start + 4 + length])
    body = memoryview(data)[start + 4 + length :]
    images: dict[int, Image.Image] = {}
    by_offset: dict[int, Image.Image] = {}
    for entry in entries:
        mode, size, offset = entry["mode"], tuple(entry["size"]), int(entry["offset"])
        if mode not in _MODES:
            raise ValueError(f"mode {mode} is not a master mode")
        if offset not in by_offset:
            end = offset + size[0] * size[1] * len(mode)
            by_offset[offset] = Image.frombytes(mode, size, bytes(body[offset:end]))
        images[int(entry["key"])] = by_offset[offset]
    return images
