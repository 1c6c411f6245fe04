"""How each made hostile file is generated: byte-level writers and the makers cases.tsv names.

A case's `maker` column names a function of MAKERS and its `args` column gives its arguments as
JSON, so the table says what each file is and this module only knows how to write bytes.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from functools import cache
from typing import Any

from PIL import Image

# --- Byte-level writers ---------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(
    width: int,
    height: int,
    *,
    colour_type: int = 0,
    depth: int = 8,
    before: list[tuple[bytes, bytes]] | tuple[()] = (),
    idat: bytes | None = None,
) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    if idat is None:
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
        row = b"\x00" + bytes(width * channels * depth // 8)
        idat = zlib.compress(row * height)
    chunks = [(b"IHDR", ihdr), *before, (b"IDAT", idat), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(_png_chunk(k, v) for k, v in chunks)


def _zeros_zlib(row_bytes: int, rows: int) -> bytes:
    """Rows of zeros (filter byte included), deflated without building them all in memory."""
    deflate = zlib.compressobj(9)
    row = bytes(row_bytes + 1)
    out = [deflate.compress(row) for _ in range(rows)]
    out.append(deflate.flush())
    return b"".join(out)


def _saved(img: Image.Image, fmt: str, **params: object) -> bytes:
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def _noise(size: tuple[int, int], mode: str = "RGB", seed: int = 7) -> Image.Image:
    rng = random.Random(seed)
    bands = len(mode)
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * bands))


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _ifd(entries: list[tuple[int, int, int, int]], next_offset: int) -> bytes:
    """A little-endian TIFF directory; entries are (tag, type, count, value or offset)."""
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in sorted(entries):
        body += struct.pack("<HHII", tag, kind, count, value)
    return body + struct.pack("<I", next_offset)


def _exif(entries: list[tuple[int, int, int, int]], tail: bytes = b"", next_ifd: int = 0) -> bytes:
    """An EXIF block: TIFF header, IFD0 at 8, then `tail` (data the entries point into)."""
    return b"II*\x00" + struct.pack("<I", 8) + _ifd(entries, next_ifd) + tail


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _with_ispe(container: bytes, width: int, height: int) -> bytes:
    """An AVIF/HEIF whose every ispe property declares width x height."""
    out = bytearray(container)
    at = out.find(b"ispe")
    while at >= 0:
        out[at + 8 : at + 16] = struct.pack(">II", width, height)
        at = out.find(b"ispe", at + 4)
    return bytes(out)


# GIF: a 1x1 frame of colour 0 is three LZW codes (clear, 0, end) in two bytes.
_GIF_PIXEL = b"\x02\x02\x44\x01\x00"  # min code size 2, one 2-byte sub-block, terminator


def _gif(width: int, height: int, frames: list[tuple[int, int, int, int]], trailer: bytes) -> bytes:
    """A GIF89a with a 2-colour table and 1x1-pixel frames at (left, top) declaring (w, h)."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    for left, top, w, h in frames:
        out += b"\x2c" + struct.pack("<HHHHB", left, top, w, h, 0) + _GIF_PIXEL
    return out + trailer


def _gif_frames(count: int, size: int) -> bytes:
    gce = b"\x21\xf9\x04\x00\x02\x00\x00\x00"  # 20 ms per frame
    frame = gce + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + _GIF_PIXEL
    head = b"GIF89a" + struct.pack("<HHBBB", size, size, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    return head + loop + frame * count + b";"


def _webp_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _riff(chunks: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _u24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def _tiff(
    pages: list[list[tuple[int, int, int, int]]], data: bytes, *, loop: bool = False
) -> bytes:
    """A little-endian TIFF: `data` at 8, then one directory per page, chained."""
    first = 8 + len(data) + (len(data) & 1)
    blob = b"II*\x00" + struct.pack("<I", first) + data + b"\x00" * (len(data) & 1)
    offset = first
    for index, entries in enumerate(pages):
        size = 2 + 12 * len(entries) + 4
        last = index == len(pages) - 1
        next_offset = first if loop and last else (0 if last else offset + size)
        blob += _ifd(entries, next_offset)
        offset += size
    return blob


def _gray_page(width: int, height: int, data_at: int = 8) -> list[tuple[int, int, int, int]]:
    return [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, data_at),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, min(width * height, 2**32 - 1)),
    ]


# --- The generators ---------------------------------------------------------------------------


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _svg_script() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b'<script>alert(document.cookie)</script><a href="javascript:alert(2)"><rect/></a></svg>'
    )


def _svg_laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY l0 "lol">{entities}]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&l9;</text></svg>'
    ).encode()


def _html() -> bytes:
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"


def _psd() -> bytes:
    return b"8BPS\x00\x01" + bytes(6) + struct.pack(">HIIHH", 3, 64, 64, 8, 3) + bytes(64)


def _polyglot() -> bytes:
    # The logical screen's width bytes are "/*", the trailer opens a script: GIF and JavaScript.
    return _gif(0x2A2F, 10, [(0, 0, 1, 1)], b";*/=alert(1);//")


def _jpeg_sof(width: int, height: int, cut: bool = True) -> bytes:
    data = bytearray(_saved(Image.new("L", (16, 16), 90), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data[: data.find(b"\xff\xda") + 40]) if cut else bytes(data)


def _vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    return _riff(_webp_chunk(b"VP8L", b"\x2f" + struct.pack("<I", bits) + bytes(16)))


def _vp8x_canvas() -> bytes:
    tiny = _saved(Image.new("RGB", (1, 1)), "WEBP", lossless=True)[12:]
    return _riff(_webp_chunk(b"VP8X", b"\x00" + bytes(3) + _u24(19_999) + _u24(19_999)) + tiny)


def _avif_ispe() -> bytes:
    return _with_ispe(_saved(Image.new("RGB", (64, 48), (20, 90, 200)), "AVIF"), 17000, 17000)


def _tiff_huge() -> bytes:
    return _tiff([_gray_page(100_000, 100_000)], bytes(16))


def _png_zlib_bomb() -> bytes:
    return _png(9400, 9400, idat=_zeros_zlib(9400, 9400))


def _png_rgba_49mp() -> bytes:
    return _png(7000, 7000, colour_type=6, idat=_zeros_zlib(7000 * 4, 7000))


def _apng_frames() -> bytes:
    actl = struct.pack(">II", 2**31 - 1, 0)
    return _png(8, 8, before=[(b"acTL", actl)])


def _webp_frames(count: int) -> bytes:
    tiny = _saved(Image.new("RGB", (8, 8), (200, 0, 0)), "WEBP", lossless=True)[12:]
    frame = _webp_chunk(b"ANMF", bytes(6) + _u24(7) + _u24(7) + _u24(40) + b"\x00" + tiny)
    head = _webp_chunk(b"VP8X", b"\x02" + bytes(3) + _u24(7) + _u24(7))
    anim = _webp_chunk(b"ANIM", bytes(4) + b"\x00\x00")
    return _riff(head + anim + frame * count)


def _tiff_pages(count: int) -> bytes:
    pages = []
    for index in range(count):
        page = _gray_page(1, 1)
        if index:
            page.append((254, 4, 1, 2))  # NewSubfileType: a page
        pages.append(page)
    return _tiff(pages, b"\x80")


def _tiff_loop() -> bytes:
    return _tiff([_gray_page(4, 4)], bytes(range(0, 160, 10)), loop=True)


def _animated_gif() -> bytes:
    frames = []
    for index in range(40):  # a square moving right: 40 distinct frames
        frame = Image.new("RGB", (96, 64), (20, 40, 90))
        frame.paste((250, 200, 0), (index * 2, 20, index * 2 + 16, 36))
        frames.append(frame)
    return _saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


@cache
def _progressive_flat(size: int) -> tuple[bytes, bytes]:
    """A flat gray progressive JPEG, and its last scan (DHT + SOS + data) to repeat."""
    data = _saved(Image.new("L", (size, size), 128), "JPEG", progressive=True, quality=90)
    last_sos = data.rfind(b"\xff\xda")
    dht = data.rfind(b"\xff\xc4", 0, last_sos)
    return data, data[dht : data.rfind(b"\xff\xd9")]


def _scan_bomb(scans: int) -> bytes:
    """A 4000x4000 progressive JPEG of `scans` scans: the last one repeated."""
    data, scan = _progressive_flat(4000)
    end = data.rfind(b"\xff\xd9")
    return data[:end] + scan * (scans - data.count(b"\xff\xda")) + data[end:]


def _png_text_bomb(kind: bytes) -> bytes:
    payload = zlib.compress(b"A" * (8 * 1024 * 1024), 9)
    if kind == b"zTXt":
        body = b"Comment\x00\x00" + payload
    elif kind == b"iTXt":
        body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + payload
    else:
        body = b"icc\x00\x00" + zlib.compress(bytes(4 * 1024 * 1024), 9)
    return _png(8, 8, before=[(kind, body)])


def _png_many_texts() -> bytes:
    return _png(8, 8, before=[(b"tEXt", b"k\x00v%d" % i) for i in range(5000)])


def _png_huge_exif() -> bytes:
    return _png(8, 8, before=[(b"eXIf", _exif([(0x0112, 3, 1, 1)], bytes(5 * 1024 * 1024)))])


def _jpeg_many_segments() -> bytes:
    base = _saved(Image.new("RGB", (32, 32), (40, 80, 120)), "JPEG")
    return _after_soi(base, *[_jpeg_segment(0xE9, b"x%d" % (i % 10)) for i in range(5000)])


def _jpeg_huge_icc() -> bytes:
    base = _saved(Image.new("RGB", (32, 32), (40, 80, 120)), "JPEG")
    chunk = bytes(65_519 - 14)
    count = 130  # 130 x 64 KB: 8.5 MB of "profile", over the 8 MiB metadata budget
    segments = [
        _jpeg_segment(0xE2, b"ICC_PROFILE\x00" + bytes([i + 1, count]) + chunk)
        for i in range(count)
    ]
    return _after_soi(base, *segments)


def _jpeg_with_exif(exif: bytes, size: tuple[int, int] = (64, 32)) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, size[0] // 4, size[1]))
    return _saved(img, "JPEG", exif=b"Exif\x00\x00" + exif, quality=90)


def _exif_65k() -> bytes:
    text = b"A" * 65_000
    return _jpeg_with_exif(_exif([(0x010E, 2, len(text), 26)], text))


def _exif_loop() -> bytes:
    # IFD0 points to itself as its next directory, as its Exif IFD and as its GPS IFD.
    return _jpeg_with_exif(_exif([(0x0112, 3, 1, 6), (0x8769, 4, 1, 8), (0x8825, 4, 1, 8)], b"", 8))


def _exif_count_overflow() -> bytes:
    return _jpeg_with_exif(_exif([(0x010F, 2, 2**31 - 1, 38), (0x0112, 3, 1, 6)], b"Make\x00"))


def _exif_orientation(value: int) -> bytes:
    return _jpeg_with_exif(_exif([(0x0112, 3, 1, value)]))


def _garbage_icc() -> bytes:
    header = struct.pack(">I", 0xFFFFFFFF) + random.Random(3).randbytes(3000)
    base = _saved(Image.new("RGB", (64, 32), (10, 120, 10)), "JPEG")
    return _after_soi(base, _jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + header))


def _jpeg_markup() -> bytes:
    text = b"<?php system($_GET['c']); ?>\x00"
    exif = _exif([(0x010E, 2, len(text), 26)], text)
    base = _jpeg_with_exif(exif)
    return _after_soi(base, _jpeg_segment(0xFE, b"<script>alert(document.domain)</script>"))


def _png_markup() -> bytes:
    texts = [b"Comment\x00<script>alert(1)</script>", b"Author\x00<?php phpinfo(); ?>"]
    return _png(8, 8, colour_type=2, before=[(b"tEXt", t) for t in texts])


def _png_orientation() -> bytes:
    img = Image.new("RGB", (64, 32), (240, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _saved(img, "PNG", exif=exif.tobytes())


def _palette(entries: int) -> bytes:
    return bytes(v for i in range(entries) for v in (i % 256, 255 - i % 256, 60))


def _png_p(before: list[tuple[bytes, bytes]], index: int = 1, colour_type: int = 3) -> bytes:
    idat = zlib.compress((b"\x00" + bytes([index]) * 8) * 8)
    return _png(8, 8, colour_type=colour_type, before=before, idat=idat)


def _tiff_short_colormap() -> bytes:
    page = [e for e in _gray_page(4, 4) if e[0] != 262] + [(262, 3, 1, 3), (320, 3, 48, 8)]
    return _tiff([page], bytes(96))


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _jpeg_segment_past_end() -> bytes:
    base = _saved(Image.new("RGB", (32, 32)), "JPEG")
    return (b"\xff\xd8\xff\xe1\x25\x48Exif\x00\x00" + base[2:])[:1024]


def _jpeg_junk() -> bytes:
    base = _saved(_noise((96, 64)), "JPEG", quality=85)
    cut = base.find(b"\xff\xdb")
    return base[:cut] + b"\x00junk" + base[cut:]


def _i16_key() -> bytes:
    img = Image.frombytes("I;16", (32, 32), bytes(range(256)) * 8)
    return _saved(img, "PNG", transparency=0x0100)


def _palette_transparent() -> bytes:
    img = Image.new("P", (48, 32), 1)
    img.putpalette([0, 0, 0, 250, 120, 0] + [0] * 762)
    return _saved(img, "PNG", transparency=0)


# --- Makers for the table's rows whose recipe takes arguments ---------------------------------


def _empty() -> bytes:
    return b""


def _one_byte() -> bytes:
    return b"\xff"


def _tiny(fmt: str) -> bytes:
    return _saved(Image.new("RGB", (64, 48), (30, 160, 90)), fmt)


def _png_header(width: int, height: int) -> bytes:
    return _png(width, height, idat=zlib.compress(bytes(64)))


def _gif_screen(width: int, height: int, frames: list[list[int]]) -> bytes:
    return _gif(width, height, [(f[0], f[1], f[2], f[3]) for f in frames], b";")


def _noise_file(width: int, height: int, mode: str, fmt: str, params: dict[str, Any]) -> bytes:
    return _saved(_noise((width, height), mode), fmt, **params)


def _cut_noise(
    width: int, height: int, mode: str, fmt: str, params: dict[str, Any], fraction: float
) -> bytes:
    return _cut(_noise_file(width, height, mode, fmt, params), fraction)


def _plain(mode: str, width: int, height: int, colour: int | list[int], fmt: str) -> bytes:
    fill = tuple(colour) if isinstance(colour, list) else colour
    return _saved(Image.new(mode, (width, height), fill), fmt)


def _png_palette_case(chunks: list[list[Any]], index: int = 1, colour_type: int = 3) -> bytes:
    """`chunks`: [["PLTE", entries] or ["tRNS", length]] before the image data."""
    before = [(k.encode(), _palette(n) if k == "PLTE" else bytes(n)) for k, n in chunks]
    return _png_p(before, index=index, colour_type=colour_type)


def _png_text_bomb_of(kind: str) -> bytes:
    return _png_text_bomb(kind.encode())


MAKERS: dict[str, Callable[..., bytes]] = {
    fn.__name__.lstrip("_"): fn
    for fn in (
        _empty,
        _one_byte,
        _pdf,
        _svg_script,
        _svg_laughs,
        _html,
        _psd,
        _polyglot,
        _tiny,
        _png_header,
        _jpeg_sof,
        _gif_screen,
        _vp8l,
        _vp8x_canvas,
        _avif_ispe,
        _tiff_huge,
        _png_zlib_bomb,
        _png_rgba_49mp,
        _gif_frames,
        _apng_frames,
        _webp_frames,
        _tiff_pages,
        _tiff_loop,
        _animated_gif,
        _scan_bomb,
        _noise_file,
        _png_text_bomb_of,
        _png_many_texts,
        _png_huge_exif,
        _jpeg_many_segments,
        _jpeg_huge_icc,
        _exif_65k,
        _exif_loop,
        _exif_count_overflow,
        _exif_orientation,
        _garbage_icc,
        _jpeg_markup,
        _png_markup,
        _png_orientation,
        _png_palette_case,
        _tiff_short_colormap,
        _cut_noise,
        _jpeg_segment_past_end,
        _jpeg_junk,
        _plain,
        _palette_transparent,
        _i16_key,
    )
}
