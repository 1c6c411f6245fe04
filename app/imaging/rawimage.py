"""A decoded image as bytes: how the master travels between tasks without being encoded again."""

from __future__ import annotations

import json
import struct

from PIL import Image

_MAGIC = b"IPRAW1\n"


def dump(img: Image.Image) -> bytes:
    header = json.dumps({"mode": img.mode, "size": list(img.size)}).encode()
    return _MAGIC + struct.pack(">I", len(header)) + header + img.tobytes()


def load(data: bytes) -> Image.Image:
    if not data.startswith(_MAGIC):
        raise ValueError("not a raw master image")
    start = len(_MAGIC)
    (length,) = struct.unpack(">I", data[start : start + 4])
    header = json.loads(data[start + 4 : start + 4 + length])
    pixels = data[start + 4 + length :]
    return Image.frombytes(header["mode"], tuple(header["size"]), pixels)
