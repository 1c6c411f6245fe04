"""Hostile files made in code, and the outcome every hostile file must have.

Two sets, one table of expectations:

- CORPUS: what each file of ../shared/corpus/hostile (64 files, see its MANIFEST.tsv) must end
  as. Those files are read in place and never copied here.
- MADE: generators for the same kinds of trouble, plus the bombs the corpus lacks (scan bombs,
  text and ICC zlib bombs, frame-count bombs, huge EXIF, palette tricks). They need nothing but
  Pillow, so a clone without ../shared still runs every hostile-file test.

An outcome is "ready" (processed) or the reason code of `failed`. `python -m tests.hostile_files`
prints the table that docs/robustness.md shows; a test checks that the two agree.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

CORPUS_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "hostile"
READY = "ready"


@dataclass(frozen=True)
class Expect:
    outcome: str  # "ready", or the failure reason
    why: str
    size: tuple[int, int] | None = None  # the upright size, where orientation is the point


@dataclass(frozen=True)
class Hostile:
    name: str
    expect: Expect
    source: str  # "corpus" or "made"
    path: Path | None = None  # corpus files are read in place
    maker: Callable[[], bytes] | None = None

    def data(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        assert self.maker is not None
        return self.maker()


def _e(outcome: str, why: str, size: tuple[int, int] | None = None) -> Expect:
    return Expect(outcome, why, size)


# --- The shared corpus: one row per file of ../shared/corpus/hostile ----------------------------

CORPUS: dict[str, Expect] = {
    "exifsamples_corrupted_exif.jpg": _e(READY, "a real photo; a broken EXIF block is ignored"),
    "gen_document.pdf": _e("unsupported_format", "a PDF: not on the allow-list"),
    "gen_empty_zero_bytes.jpg": _e("empty_file", "no bytes at all"),
    "gen_gif_3000_frames_16x16.gif": _e("too_many_frames", "3000 frames, limit 1000"),
    "gen_heif_named_as.jpg": _e(READY, "a real HEIF photo; the name does not matter"),
    "gen_jpeg_comment_exif_xss.jpg": _e(READY, "markup in metadata is stripped with it"),
    "gen_jpeg_exif_app1_65k.jpg": _e(READY, "a 65 KB EXIF block is the JPEG maximum"),
    "gen_jpeg_exif_count_overflow.jpg": _e(READY, "Pillow skips a tag larger than its block"),
    "gen_jpeg_exif_orientation_9_invalid.jpg": _e(READY, "orientation 9 is read as 1"),
    "gen_jpeg_garbage_icc_profile.jpg": _e(READY, "an unreadable ICC profile is ignored"),
    "gen_jpeg_sof_65500x65500_truncated.jpg": _e("too_many_pixels", "the SOF declares 4.3 GP"),
    "gen_png_9400x9400_gray_just_under_limit.png": _e("too_many_pixels", "88 MP in 86 KB"),
    "gen_png_header_1000000x1000000.png": _e("too_many_pixels", "IHDR declares 10^12 pixels"),
    "gen_png_text_chunks_script_php.png": _e(READY, "markup in text chunks is stripped"),
    "gen_polyglot_gif_js.gif": _e(READY, "a valid GIF; re-encoding drops the script"),
    "gen_psd_timeout_named_as.png": _e("unsupported_format", "a PSD: not on the allow-list"),
    "gen_svg_billion_laughs.svg": _e("unsupported_format", "SVG is never parsed"),
    "gen_svg_external_refs.svg": _e("unsupported_format", "SVG is never parsed"),
    "gen_svg_script_onload.svg": _e("unsupported_format", "SVG is never parsed"),
    "gen_tall_1x65500.jpg": _e(READY, "extreme aspect ratio, within every limit", (1, 65500)),
    "gen_tiff_crash_named_as.jpg": _e("truncated", "its strips point past the end of the file"),
    "gen_trunc30_iphone.heic": _e("truncated", "the mdat box runs past the end"),
    "gen_trunc50_iphone.avif": _e("truncated", "the mdat box runs past the end"),
    "gen_trunc50_webp_gallery4.webp": _e("truncated", "the RIFF size is twice the file"),
    "gen_trunc60_uncompressed.tiff": _e("truncated", "the directory lies past the end"),
    "gen_webp_16383x16383_lossless.webp": _e("too_many_pixels", "268 MP in 34 bytes"),
    "gen_webp_named_as.png": _e(READY, "a WebP with alpha; the name does not matter"),
    "imgproxy_orientation-6.png": _e(READY, "eXIf orientation 6 is applied", (100, 200)),
    "imgproxy_test1.arith.jpg": _e(READY, "arithmetic coding is decoded by libjpeg-turbo"),
    "libvips_17000x17000.avif": _e("too_many_pixels", "ispe declares 289 MP"),
    "libvips_big-height.webp": _e(READY, "99 small frames: within every limit"),
    "libvips_invalid_multiframe.gif": _e(READY, "the first frame is sound"),
    "libvips_looks-like-svg.webp": _e(READY, "a WebP is a WebP, whatever sniffers think"),
    "libvips_truncated.gif": _e("truncated", "the only frame is cut short"),
    "movemegif_pong_858frames.gif": _e(READY, "858 frames, 107 MP in all: within limits"),
    "pillow_crash-0da013a13571cc8eb457a39fee8db18f8a3c7127.tif": _e(
        READY, "a fuzzer TIFF that Pillow 13 decodes"
    ),
    "pillow_decompression_bomb.gif": _e("too_many_pixels", "a 4.4 GP screen in 44 bytes"),
    "pillow_decompression_bomb_extents.gif": _e(
        "too_many_pixels", "its second frame reaches 65635x65635"
    ),
    "pillow_hopper_bad_exif.jpg": _e(READY, "a broken EXIF block is ignored"),
    "pillow_hopper_rle8_row_overflow.bmp": _e("unsupported_format", "BMP is not allowed"),
    "pillow_i_trns_16bit_gray.png": _e(READY, "16-bit gray with a transparent key"),
    "pillow_icc_profile_big.jpg": _e(READY, "a 0.5 MB ICC profile is within the budget"),
    "pillow_junk_jpeg_header.jpg": _e(READY, "stray bytes between segments are skipped"),
    "pillow_oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif": _e(
        "truncated", "its directory runs past the end"
    ),
    "pillow_p_trns_single.png": _e(READY, "palette with one transparent entry"),
    "pillow_png_decompression_dos.png": _e("metadata_too_large", "a zTXt zlib bomb"),
    "pillow_psd-oob-write-overflow.psd": _e("unsupported_format", "PSD is not allowed"),
    "pillow_sugarshack_bad_mpo_header.jpg": _e(READY, "a bad MPO index is read as plain JPEG"),
    "pillow_timeout-041dd17dfde800360a47a172269df127af138c6b.dds": _e(
        "unsupported_format", "DDS is not allowed"
    ),
    "pillow_truncated_image.png": _e("truncated", "an IDAT chunk is cut"),
    "pillow_truncated_jpeg.jpg": _e("truncated", "the scan data is cut"),
    "sharp_16-bit-grey-alpha.png": _e(READY, "16-bit gray and alpha"),
    "sharp_65536-uint32-limit.png": _e("too_many_pixels", "4.3 GP declared"),
    "sharp_CMYK_no_profile.jpg": _e(READY, "CMYK without a profile"),
    "sharp_cielab-dagams.tiff": _e("unsupported_format", "16-bit CIELab TIFF"),
    "sharp_corrupt-header.jpg": _e("truncated", "its EXIF segment runs past the end"),
    "sharp_fogra-0-100-100-0.tif": _e(READY, "CMYK TIFF with a FOGRA39 profile"),
    "sharp_giant-image.jpg": _e("too_many_pixels", "20000x14000 is 280 MP"),
    "sharp_grey-8bit-alpha.png": _e(READY, "8-bit gray and alpha (LA)"),
    "thumbor_16384x16384.png": _e("too_many_pixels", "268 MP palette PNG"),
    "thumbor_9643x10328.jpg": _e("too_many_pixels", "99.6 MP"),
    "thumbor_broken-exif-tag.jpg": _e(READY, "orientation 0 is read as 1"),
    "thumbor_image_invalid.jpg": _e("unsupported_format", "one byte"),
    "thumbor_paletted-transparent.png": _e(READY, "palette with transparency"),
}


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


def _made() -> dict[str, tuple[Callable[[], bytes], Expect]]:
    tiny = Image.new("RGB", (64, 48), (30, 160, 90))
    return {
        # What the bytes are, never the name or the declared type
        "made_empty.jpg": (lambda: b"", _e("empty_file", "no bytes")),
        "made_one_byte.jpg": (lambda: b"\xff", _e("unsupported_format", "one byte")),
        "made_document.pdf.jpg": (_pdf, _e("unsupported_format", "a PDF named .jpg")),
        "made_svg_script.svg": (_svg_script, _e("unsupported_format", "SVG is never parsed")),
        "made_svg_billion_laughs.svg": (_svg_laughs, _e("unsupported_format", "never parsed")),
        "made_html_script.png": (_html, _e("unsupported_format", "HTML named .png")),
        "made_bmp_named.png": (
            lambda: _saved(tiny, "BMP"),
            _e("unsupported_format", "BMP is not on the allow-list"),
        ),
        "made_psd_named.png": (_psd, _e("unsupported_format", "a PSD header named .png")),
        "made_gif_js_polyglot.gif": (_polyglot, _e(READY, "a valid GIF that is also a script")),
        "made_webp_named.png": (
            lambda: _saved(tiny, "WEBP"),
            _e(READY, "a WebP named .png"),
        ),
        "made_png_named.jpg": (lambda: _saved(tiny, "PNG"), _e(READY, "a PNG named .jpg")),
        "made_heif_named.jpg": (
            lambda: _saved(tiny, "HEIF"),
            _e(READY, "a HEIF named .jpg"),
        ),
        "made_avif_named.png": (lambda: _saved(tiny, "AVIF"), _e(READY, "an AVIF named .png")),
        # Sizes declared in headers
        "made_png_header_1000000x1000000.png": (
            lambda: _png(1_000_000, 1_000_000, idat=zlib.compress(bytes(64))),
            _e("too_many_pixels", "IHDR declares 10^12 pixels"),
        ),
        "made_jpeg_sof_65500x65500.jpg": (
            lambda: _jpeg_sof(65500, 65500),
            _e("too_many_pixels", "the SOF declares 4.3 GP"),
        ),
        "made_jpeg_20000x14000.jpg": (
            lambda: _jpeg_sof(20000, 14000, cut=False),
            _e("too_many_pixels", "280 MP"),
        ),
        "made_gif_screen_65535x65535.gif": (
            lambda: _gif(65535, 65535, [(0, 0, 1, 1)], b";"),
            _e("too_many_pixels", "a 4.3 GP logical screen"),
        ),
        "made_gif_frame_extents.gif": (
            lambda: _gif(100, 100, [(0, 0, 1, 1), (65000, 65000, 100, 100)], b";"),
            _e("too_many_pixels", "the second frame grows the image to 65100x65100"),
        ),
        "made_webp_16383x16383.webp": (
            lambda: _vp8l(16383, 16383),
            _e("too_many_pixels", "VP8L declares 268 MP"),
        ),
        "made_webp_canvas_20000x20000.webp": (
            _vp8x_canvas,
            _e("too_many_pixels", "the VP8X canvas is 400 MP"),
        ),
        "made_avif_ispe_17000x17000.avif": (
            _avif_ispe,
            _e("too_many_pixels", "ispe declares 289 MP"),
        ),
        "made_tiff_100000x100000.tif": (_tiff_huge, _e("too_many_pixels", "10 GP declared")),
        "made_png_zlib_9400x9400.png": (
            _png_zlib_bomb,
            _e("too_many_pixels", "88 MP of zeros in a small file"),
        ),
        "made_png_zlib_rgba_7000x7000.png": (
            _png_rgba_49mp,
            _e(READY, "a 196 MB RGBA zlib bomb under the pixel limit: bounded"),
        ),
        # Frame-count bombs
        "made_gif_3000_frames.gif": (
            lambda: _gif_frames(3000, 16),
            _e("too_many_frames", "3000 frames"),
        ),
        "made_gif_200000_frames.gif": (
            lambda: _gif_frames(200_000, 1),
            _e("too_many_frames", "200,000 1x1 frames: counting them is the attack"),
        ),
        "made_apng_2e31_frames.png": (
            _apng_frames,
            _e("too_many_frames", "acTL declares 2^31-1 frames"),
        ),
        "made_webp_2000_frames.webp": (
            lambda: _webp_frames(2000),
            _e("too_many_frames", "2000 ANMF frames"),
        ),
        "made_tiff_5000_pages.tif": (
            lambda: _tiff_pages(5000),
            _e("too_many_frames", "a chain of 5000 directories"),
        ),
        "made_tiff_ifd_loop.tif": (
            _tiff_loop,
            _e(READY, "a directory chain that loops is read once"),
        ),
        "made_gif_40_frames.gif": (_animated_gif, _e(READY, "a small animation")),
        "made_webp_50_frames.webp": (
            lambda: _webp_frames(50),
            _e(READY, "a small animated WebP"),
        ),
        # Progressive-JPEG scan bombs
        "made_jpeg_5000_scans.jpg": (
            lambda: _scan_bomb(5000),
            _e("too_many_scans", "5000 scans: about 50 s of libjpeg"),
        ),
        "made_jpeg_100_scans.jpg": (
            lambda: _scan_bomb(100),
            _e(READY, "exactly at the 100-scan limit: about 1 s"),
        ),
        "made_jpeg_progressive.jpg": (
            lambda: _saved(_noise((640, 480)), "JPEG", progressive=True),
            _e(READY, "an ordinary progressive JPEG (10 scans)"),
        ),
        # zlib and text-chunk bombs, huge metadata
        "made_png_ztxt_bomb.png": (
            lambda: _png_text_bomb(b"zTXt"),
            _e("metadata_too_large", "8 MB of text from 8 KB"),
        ),
        "made_png_itxt_bomb.png": (
            lambda: _png_text_bomb(b"iTXt"),
            _e("metadata_too_large", "a compressed iTXt (XMP) zlib bomb"),
        ),
        "made_png_iccp_bomb.png": (
            lambda: _png_text_bomb(b"iCCP"),
            _e("metadata_too_large", "a 4 MB ICC profile from 4 KB"),
        ),
        "made_png_5000_text_chunks.png": (
            _png_many_texts,
            _e("metadata_too_large", "5000 text chunks (limit 1000)"),
        ),
        "made_png_exif_5mb.png": (
            _png_huge_exif,
            _e("metadata_too_large", "a 5 MB eXIf chunk (limit 1 MiB)"),
        ),
        "made_jpeg_5000_app_segments.jpg": (
            _jpeg_many_segments,
            _e("metadata_too_large", "5000 APP9 segments (limit 1000)"),
        ),
        "made_jpeg_icc_8mb.jpg": (
            _jpeg_huge_icc,
            _e("metadata_too_large", "130 ICC segments: 8.5 MB (limit 8 MiB)"),
        ),
        # EXIF and metadata that must not stop a photo
        "made_jpeg_exif_65k.jpg": (_exif_65k, _e(READY, "the largest EXIF a JPEG holds")),
        "made_jpeg_exif_loop.jpg": (
            _exif_loop,
            _e(READY, "EXIF directories that point to themselves; orientation 6", (32, 64)),
        ),
        "made_jpeg_exif_count_overflow.jpg": (
            _exif_count_overflow,
            _e(READY, "a tag claiming 2^31-1 values; orientation 6", (32, 64)),
        ),
        "made_jpeg_exif_orientation_9.jpg": (
            lambda: _exif_orientation(9),
            _e(READY, "orientation 9 is read as 1", (64, 32)),
        ),
        "made_jpeg_garbage_icc.jpg": (_garbage_icc, _e(READY, "an unreadable ICC profile")),
        "made_jpeg_markup_metadata.jpg": (_jpeg_markup, _e(READY, "markup in COM and EXIF")),
        "made_png_markup_text.png": (_png_markup, _e(READY, "markup in tEXt")),
        "made_png_exif_orientation_6.png": (
            _png_orientation,
            _e(READY, "eXIf orientation 6 is applied", (32, 64)),
        ),
        # Palette tricks
        "made_png_palette_missing.png": (
            lambda: _png_p([]),
            _e("corrupt", "a palette image without PLTE"),
        ),
        "made_png_palette_300_entries.png": (
            lambda: _png_p([(b"PLTE", _palette(300))]),
            _e("corrupt", "a palette of 300 entries"),
        ),
        "made_png_two_palettes.png": (
            lambda: _png_p([(b"PLTE", _palette(4)), (b"PLTE", _palette(4))]),
            _e("corrupt", "two PLTE chunks"),
        ),
        "made_png_palette_in_gray.png": (
            lambda: _png_p([(b"PLTE", _palette(4))], colour_type=0),
            _e("corrupt", "a palette in a grayscale PNG"),
        ),
        "made_png_index_past_palette.png": (
            lambda: _png_p([(b"PLTE", _palette(2))], index=200),
            _e(READY, "indexes past a 2-entry palette read as black"),
        ),
        "made_png_trns_longer_than_palette.png": (
            lambda: _png_p([(b"PLTE", _palette(2)), (b"tRNS", bytes(256))]),
            _e(READY, "extra transparency entries are ignored"),
        ),
        "made_tiff_short_colormap.tif": (
            _tiff_short_colormap,
            _e("corrupt", "an 8-bit palette TIFF with a 16-entry colour map"),
        ),
        # Truncation
        "made_trunc_jpeg.jpg": (
            lambda: _cut(_saved(_noise((320, 240)), "JPEG"), 0.4),
            _e("truncated", "baseline scan data cut at 40%"),
        ),
        "made_trunc_progressive.jpg": (
            lambda: _cut(_saved(_noise((320, 240)), "JPEG", progressive=True), 0.4),
            _e("truncated", "progressive scans cut at 40%"),
        ),
        "made_trunc_png.png": (
            lambda: _cut(_saved(_noise((200, 150)), "PNG"), 0.5),
            _e("truncated", "IDAT cut"),
        ),
        "made_trunc_gif.gif": (
            lambda: _cut(_saved(_noise((200, 150), "L"), "GIF"), 0.5),
            _e("truncated", "the only frame cut"),
        ),
        "made_trunc_webp.webp": (
            lambda: _cut(_saved(_noise((200, 150)), "WEBP"), 0.5),
            _e("truncated", "the RIFF says more than there is"),
        ),
        "made_trunc_tiff.tif": (
            lambda: _cut(_saved(_noise((200, 150)), "TIFF"), 0.6),
            _e("truncated", "strips past the end"),
        ),
        "made_trunc_avif.avif": (
            lambda: _cut(_saved(_noise((256, 256)), "AVIF", quality=90), 0.6),
            _e("truncated", "mdat cut"),
        ),
        "made_trunc_heic.heic": (
            lambda: _cut(_saved(_noise((256, 256)), "HEIF", quality=90), 0.6),
            _e("truncated", "mdat cut"),
        ),
        "made_jpeg_segment_past_end.jpg": (
            _jpeg_segment_past_end,
            _e("truncated", "an APP1 segment of 9544 bytes in 1 KB"),
        ),
        "made_jpeg_junk_between_segments.jpg": (
            _jpeg_junk,
            _e(READY, "stray bytes between segments are skipped"),
        ),
        # Valid but unusual
        "made_tall_1x65500.jpg": (
            lambda: _saved(Image.new("RGB", (1, 65500), (90, 90, 200)), "JPEG"),
            _e(READY, "1x65500", (1, 65500)),
        ),
        "made_wide_65500x1.png": (
            lambda: _saved(Image.new("L", (65500, 1), 200), "PNG"),
            _e(READY, "65500x1", (65500, 1)),
        ),
        "made_cmyk.jpg": (
            lambda: _saved(_noise((120, 80), "CMYK"), "JPEG"),
            _e(READY, "CMYK JPEG without a profile"),
        ),
        "made_cmyk.tif": (lambda: _saved(_noise((120, 80), "CMYK"), "TIFF"), _e(READY, "CMYK")),
        "made_la.png": (lambda: _saved(_noise((64, 64), "LA"), "PNG"), _e(READY, "gray+alpha")),
        "made_p_transparent.png": (_palette_transparent, _e(READY, "palette with transparency")),
        "made_i16_transparent_key.png": (_i16_key, _e(READY, "16-bit gray with a tRNS key")),
    }


@cache
def made() -> list[Hostile]:
    return [Hostile(name, expect, "made", maker=maker) for name, (maker, expect) in _made().items()]


def corpus() -> list[Hostile]:
    """The shared corpus's files, where ../shared/corpus is present; [] elsewhere."""
    if not CORPUS_DIR.is_dir():
        return []
    present = {p.name for p in CORPUS_DIR.iterdir() if p.name != "MANIFEST.tsv"}
    missing = present ^ set(CORPUS)
    if missing:
        raise AssertionError(f"the hostile corpus and its expectations differ: {sorted(missing)}")
    return [
        Hostile(name, expect, "corpus", path=CORPUS_DIR / name)
        for name, expect in sorted(CORPUS.items())
    ]


def everything() -> list[Hostile]:
    return corpus() + made()


def write(files: list[Hostile], folder: Path) -> dict[str, Path]:
    """Each file's bytes under folder (corpus files are read from ../shared, never copied in)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item in files:
        path = item.path or folder / item.name
        if item.path is None:
            path.write_bytes(item.data())
        paths[item.name] = path
    return paths


def markdown_table() -> str:
    """The outcome table of docs/robustness.md, from the expectations above."""
    lines = ["| File | Source | Outcome | Why |", "|---|---|---|---|"]
    for name, expect in sorted(CORPUS.items()):
        lines.append(f"| `{name}` | corpus | `{expect.outcome}` | {expect.why} |")
    for name, (_maker, expect) in _made().items():
        lines.append(f"| `{name}` | made | `{expect.outcome}` | {expect.why} |")
    return "\n".join(lines) + "\n"


def measure(folder: Path) -> None:  # pragma: no cover - run by hand for docs/robustness.md
    """Print the figures docs/robustness.md quotes: guard costs, what they prevent, sandbox cost."""
    import contextlib
    import statistics
    import time
    import warnings
    from dataclasses import replace

    from app.imaging import pipeline, sandbox
    from app.imaging.errors import ImageRejected
    from app.imaging.limits import Limits
    from app.imaging.probe import probe

    limits = Limits()
    paths = write(everything(), folder)

    def timed(fn: Callable[[], object], runs: int = 21) -> str:
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            with contextlib.suppress(ImageRejected):
                fn()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        wall_ms, cpu_ms = statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3
        return f"{wall_ms:.2f} ms wall, {cpu_ms:.2f} ms CPU (median of {runs})"

    photos = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "photos"
    for name in ("exifsamples_42_IndexError_OlympusEP3.jpg", "lomiri16_Dragonfly_by_Bolly.jpg"):
        photo = photos / name
        if photo.exists():
            print(f"probe {name}: {timed(lambda p=photo: probe(p, limits))}")
            one = timed(lambda p=photo: pipeline.load_master(p, limits), 9)
            boxed = timed(lambda p=photo: sandbox.load_master(p, limits), 9)
            print(f"  load_master in process: {one}; in the sandbox: {boxed}")
    print(
        f"sandbox round trip of a no-op: {timed(lambda: sandbox.run_limited(int, limits=limits))}"
    )
    for item in made():
        if item.expect.outcome in ("too_many_scans", "too_many_frames", "metadata_too_large"):
            print(f"guard on {item.name}: {timed(lambda p=paths[item.name]: probe(p, limits), 5)}")

    def pillow(path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                _ = getattr(img, "n_frames", 1)

    for name in (
        "made_gif_200000_frames.gif",
        "made_gif_3000_frames.gif",
        "made_png_5000_text_chunks.png",
        "made_jpeg_5000_app_segments.jpg",
    ):
        print(
            f"without the guard, Pillow opens {name}: {timed(lambda n=name: pillow(paths[n]), 3)}"
        )
    lifted = replace(limits, max_scans=10**6, decode_seconds=600)
    for name in ("made_jpeg_100_scans.jpg", "made_jpeg_5000_scans.jpg"):
        started = time.perf_counter()
        sandbox.load_master(paths[name], lifted)
        print(f"decoding {name} with no scan limit: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(Path(sys.argv[2]))
    else:
        sys.stdout.write(markdown_table())
