"""Formats we accept, recognised by their magic bytes only (never by name or declared type)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # our name, also the catalog's `format`
    mime: str
    pillow: tuple[str, ...]  # Pillow plugins allowed to open it


JPEG = Format("jpeg", "image/jpeg", ("JPEG", "MPO"))
PNG = Format("png", "image/png", ("PNG",))
GIF = Format("gif", "image/gif", ("GIF",))
WEBP = Format("webp", "image/webp", ("WEBP",))
TIFF = Format("tiff", "image/tiff", ("TIFF",))
AVIF = Format("avif", "image/avif", ("AVIF",))
HEIF = Format("heif", "image/heif", ("HEIF",))

ALLOWED: tuple[Format, ...] = (JPEG, PNG, GIF, WEBP, TIFF, AVIF, HEIF)

# Declared content types that the upload API accepts (what browsers and phones send).
ACCEPTED_CONTENT_TYPES: frozenset[str] = frozenset(
    {f.mime for f in ALLOWED}
    | {"image/jpg", "image/pjpeg", "image/heic", "image/heic-sequence"}
    | {"image/heif-sequence", "image/avif-sequence", "image/x-png", "image/x-tiff"}
)

# The content type a client declares for a file, from its name (the server still sniffs bytes).
CONTENT_TYPE_BY_SUFFIX: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".gif": "image/gif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1"}
_HEIF_BRANDS |= {b"msf1", b"mif2"}

MAGIC_BYTES_NEEDED = 64


# (offset, magic) -> format; ISO-BMFF (AVIF, HEIF) needs its brands read, below.
_SIGNATURES: tuple[tuple[int, bytes, Format], ...] = (
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (0, b"II*\x00", TIFF),
    (0, b"MM\x00*", TIFF),
)


def sniff(head: bytes) -> Format | None:
    """The format the first bytes announce, or None when it is not one we accept."""
    for offset, magic, fmt in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        return _isobmff(head)
    return None


# What a refused file most likely is, for the failure detail only: the verdict never depends on it.
_KNOWN_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"8BPS", "a Photoshop document"),
    (b"BM", "a BMP image"),
    (b"DDS ", "a DDS texture"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"qoif", "a QOI image"),
    (b"P1", "a PBM image"),
    (b"P4", "a PBM image"),
    (b"P5", "a PGM image"),
    (b"P6", "a PPM image"),
)


_TEXT_STARTS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"<svg",), "an SVG document"),
    ((b"<!doctype html", b"<html", b"<script", b"<body", b"<head"), "an HTML document"),
    ((b"<",), "an XML or HTML document"),
)


def describe(head: bytes) -> str:
    """A guess at what a refused file is, for people: 'an SVG document', 'a PDF document'..."""
    for magic, what in _KNOWN_OTHERS:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        return f"an ISO media file of brand {head[8:12].decode('latin-1')!r}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml") and b"<svg" in text:
        return "an SVG document"
    for starts, what in _TEXT_STARTS:
        if text.startswith(starts):
            return what
    if len(head) < 12:
        return f"{len(head)} byte{'s' if len(head) != 1 else ''}, too short for an image header"
    return "not an image format we know"


def _isobmff(head: bytes) -> Format | None:
    box_size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]}
    end = min(max(box_size, 16), len(head))
    brands |= {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIF_BRANDS:
        return HEIF
    return None
