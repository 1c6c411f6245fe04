"""Private by default: no EXIF, XMP, IPTC, GPS, maker notes or comments in any variant.

Every output is read back two ways: Pillow's view (info, getexif) and a walk of the container
itself (JPEG markers, RIFF chunks of WebP, ISOBMFF boxes and items of AVIF), so metadata that
Pillow would not surface is caught too. The only colour metadata allowed is an sRGB ICC profile
or none (AVIF's `nclx` colour box is a code point, not a profile). Runs over the whole corpus
(including the GPS photo) when it is there, else the fixtures, plus inputs made here that carry
every kind of metadata.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.imaging.pipeline import load_master, render
from app.imaging.plan import plan_variants
from app.imaging.plugins import register_plugins
from tests.app.imaging.test_corpus import PHOTOS
from tests.conftest import photo

LIMITS = Limits()
SETTINGS = EncodeSettings()
SECRET = "secret-7f3a"  # planted in every kind of metadata of the generated inputs

_JPEG_ALLOWED = {0xE0}  # APP0 (JFIF) only: no APP1 Exif/XMP, APP2 ICC, APP13 IPTC, COM
_WEBP_ALLOWED = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    assert data[:2] == b"\xff\xd8"
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"bad marker at {pos}"
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows, then only scans
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length


def webp_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)


def isobmff_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, bytes]]:
    pos, end = start, len(data) if end is None else end
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        yield kind, data[pos + header : pos + size]
        pos += size


def avif_metadata(data: bytes) -> tuple[set[bytes], list[bytes]]:
    """Item types in meta/iinf, and the colour types of every colr box."""
    items: set[bytes] = set()
    colours: list[bytes] = []
    for kind, body in isobmff_boxes(data):
        if kind != b"meta":
            continue
        for child, payload in isobmff_boxes(body, 4):  # meta is a full box
            if child == b"iinf":
                version = payload[0]
                skip = 4 + (2 if version == 0 else 4)
                for entry, infe in isobmff_boxes(payload, skip):
                    assert entry == b"infe"
                    id_size = 2 if infe[0] == 2 else 4
                    items.add(infe[4 + id_size + 2 : 4 + id_size + 6])
            if child == b"iprp":
                for group, props in isobmff_boxes(payload):
                    if group == b"ipco":
                        colours += [p[:4] for k, p in isobmff_boxes(props) if k == b"colr"]
    return items, colours


def assert_private(data: bytes, fmt: str, name: str) -> None:
    assert SECRET.encode() not in data, name
    img = Image.open(io.BytesIO(data))
    img.load()
    assert not img.getexif(), name
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc", "mp"):
        assert key not in img.info, (name, key)
    icc = img.info.get("icc_profile")
    if icc:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        assert ImageCms.getProfileDescription(profile).strip().lower().startswith("srgb"), name
    if fmt == "jpg":
        markers = {marker for marker, _ in jpeg_segments(data)}
        assert markers - {0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xDD} <= _JPEG_ALLOWED, (name, markers)
    elif fmt == "webp":
        kinds = {kind for kind, _ in webp_chunks(data)}
        assert kinds <= _WEBP_ALLOWED, (name, kinds)
    else:
        items, colours = avif_metadata(data)
        assert items <= {b"av01", b"grid"}, (name, items)  # no Exif item, no mime (XMP) item
        assert set(colours) <= {b"nclx"}, (name, colours)  # no embedded profile


def check_file(path: Path, *, every_width: bool = False) -> int:
    master = load_master(path, LIMITS)
    specs = plan_variants(master.width)
    if not every_width:  # metadata does not depend on width: every format, two widths
        specs = [s for s in specs if s.width <= 320]
    count = 0
    for item in render(master.image, specs, SETTINGS):
        assert_private(item.data, item.spec.format, f"{path.name}:{item.spec.name}")
        count += 1
    return count


@pytest.mark.parametrize("name", PHOTOS)
def test_no_metadata_survives_from_any_photo(name: str) -> None:
    assert check_file(photo(name)) >= 3


def test_the_gps_photo_keeps_no_trace_of_its_position(gps_jpeg: Path) -> None:
    with Image.open(gps_jpeg) as original:
        assert original.getexif().get_ifd(0x8825)  # the input really has GPS
    assert check_file(gps_jpeg, every_width=True) == 19  # 18 and the phone slot 720.avif
    if "exifsamples_DSCN0010_gps.jpg" in PHOTOS:
        real = photo("exifsamples_DSCN0010_gps.jpg")
        with Image.open(real) as original:
            assert original.getexif().get_ifd(0x8825)
        assert check_file(real, every_width=True) == 9  # 640 px wide: lq, 320 and 640 slots


def _exif_with_everything() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = SECRET  # Make
    exif[0x0131] = SECRET  # Software
    exif[0x013B] = SECRET  # Artist
    exif.get_ifd(0x8769)[0x927C] = SECRET.encode() * 4  # maker note
    exif.get_ifd(0x8769)[0x9286] = SECRET  # user comment
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="'
    + SECRET.encode()
    + b'"/></rdf:RDF></x:xmpmeta>'
)


def _with_iptc_and_comment(jpeg: bytes) -> bytes:
    """Insert an APP13 (Photoshop IRB with IPTC) and a COM segment after SOI."""
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(SECRET)) + SECRET.encode()  # 2:80 By-line
    irb = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    app13 = b"Photoshop 3.0\x00" + irb
    segments = b"\xff\xed" + struct.pack(">H", len(app13) + 2) + app13
    comment = SECRET.encode()
    segments += b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return jpeg[:2] + segments + jpeg[2:]


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    with Image.open(photo("skimage_coffee.png")) as img:
        return img.convert("RGB")


def _adobe_rgb_icc() -> bytes:
    with Image.open(photo("skimage_rocket_adobergb.jpg")) as img:
        icc = img.info["icc_profile"]
    assert isinstance(icc, bytes)
    return icc


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "tiff", "avif", "heif"])
def test_every_kind_of_metadata_is_dropped(tmp_path: Path, scene: Image.Image, fmt: str) -> None:
    register_plugins()
    path = tmp_path / f"loaded.{fmt}"
    exif = _exif_with_everything()
    params: dict[str, object] = {"exif": exif.tobytes(), "icc_profile": _adobe_rgb_icc()}
    if fmt in ("jpeg", "png", "webp", "avif", "heif", "tiff"):
        params["xmp"] = XMP
    if fmt == "png":
        from PIL.PngImagePlugin import PngInfo

        text = PngInfo()
        text.add_text("Comment", SECRET)
        text.add_itxt("Author", SECRET)
        params["pnginfo"] = text
    if fmt == "jpeg":
        buffer = io.BytesIO()
        scene.save(buffer, "JPEG", quality=92, comment=SECRET, **params)
        path.write_bytes(_with_iptc_and_comment(buffer.getvalue()))
    else:
        scene.save(path, fmt.upper(), **params)
    assert SECRET.encode() in path.read_bytes() or fmt in ("avif", "heif")  # planted
    assert check_file(path, every_width=True) == 9  # 600 px wide: lq, 320 and 640 slots
