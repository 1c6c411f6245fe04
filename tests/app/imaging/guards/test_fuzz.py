"""Fuzz every container walker: whatever the bytes, a walk ends in a verdict or a rejection.

The walkers parse attacker-controlled lengths, offsets and counts before any decoder runs, so an
exception other than ImageRejected (or a walk that never ends) would be a crash or a stall in the
API and the worker. Each example starts from a small valid file of the format, made here with
Pillow, and mutates it: bytes set to boundary values, lengths overwritten, cuts and insertions.

Bounded for a loaded 2-core machine: a fixed number of examples per format, small inputs, no
per-example deadline (timing is not the property). A walk that does not end is caught by the
test's pytest timeout; every walk's work is also bounded by the chunk budget it reports.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from app.imaging import formats, guards
from app.imaging.errors import ImageRejected
from app.imaging.formats import Format
from app.imaging.guards.structure import Structure
from app.imaging.limits import Limits
from app.imaging.plugins import register_plugins

# Defaults, and limits small enough that every budget trips on the mutated seeds.
LIMITS = (
    Limits(),
    Limits(
        max_pixels=4_096,
        max_total_pixels=16_384,
        max_frames=4,
        max_scans=4,
        max_metadata_bytes=2_048,
        max_exif_bytes=512,
        max_metadata_segments=4,
        max_chunks=40,
    ),
)
FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,  # nothing written into the work tree; a failure prints its reproducing bytes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BOUNDARY = (0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


def _saved(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def _image(size: tuple[int, int] = (16, 12), mode: str = "RGB") -> Image.Image:
    return Image.linear_gradient("L").resize(size).convert(mode)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010E] = "a description"
    return exif


def _frames(count: int, mode: str = "RGB") -> list[Image.Image]:
    return [_image((16, 12), mode).rotate(90 * i) for i in range(count)]


def _png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "plain")
    info.add_text("Compressed", "deflated " * 20, zip=True)
    info.add_itxt("International", "texte " * 20, lang="fr", tkey="Texte", zip=True)
    return _saved(_image(mode="RGBA"), "PNG", pnginfo=info, exif=_exif())


@cache
def seeds(name: str) -> tuple[bytes, ...]:
    """Small valid files of one format, with the metadata and animation its walker reads."""
    register_plugins()
    makers: dict[str, Callable[[], tuple[bytes, ...]]] = {
        "jpeg": lambda: (
            _saved(_image(), "JPEG", exif=_exif()),
            _saved(_image((24, 24)), "JPEG", progressive=True, icc_profile=b"\0" * 64),
        ),
        "png": lambda: (
            _png_with_text(),
            _saved(_image(mode="P"), "PNG"),
            _saved(_frames(1)[0], "PNG", save_all=True, append_images=_frames(2)),
        ),
        "gif": lambda: (
            _saved(
                _frames(1, "P")[0],
                "GIF",
                save_all=True,
                append_images=_frames(2, "P"),
                comment=b"a comment",
            ),
        ),
        "webp": lambda: (
            _saved(_image(), "WEBP", quality=50),
            _saved(_image(mode="RGBA"), "WEBP", lossless=True, exif=_exif()),
            _saved(_frames(1)[0], "WEBP", save_all=True, append_images=_frames(2)),
        ),
        "tiff": lambda: (
            _saved(_frames(1)[0], "TIFF", save_all=True, append_images=_frames(1)),
            _saved(_image(mode="P"), "TIFF", exif=_exif()),
        ),
        "avif": lambda: (_saved(_image(), "AVIF", exif=_exif(), speed=10),),
        "heif": lambda: (_saved(_image(), "HEIF", exif=_exif(), quality=50),),
    }
    return makers[name]()


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    """A seed of the format with a few edits where parsers go wrong."""
    data = bytearray(draw(st.sampled_from(seeds(name))))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(("byte", "field", "cut", "insert", "delete")))
        if edit == "byte":
            data[at : at + 1] = bytes([draw(st.integers(0, 255))])
        elif edit == "field":  # a length, offset or count overwritten with a boundary value
            width, order = draw(st.sampled_from(((2, "<"), (2, ">"), (4, "<"), (4, ">"), (8, ">"))))
            value = draw(st.sampled_from(BOUNDARY)) & ((1 << (8 * width)) - 1)
            code = {2: "H", 4: "I", 8: "Q"}[width]
            data[at : at + width] = struct.pack(order + code, value)
        elif edit == "cut":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def random_tail(fmt: Format) -> st.SearchStrategy[bytes]:
    """The format's first bytes followed by noise: what passes the magic-byte check and no more."""
    head = seeds(fmt.name)[0][:16]
    return st.binary(max_size=256).map(lambda tail: head + tail)


def walk(data: bytes, fmt: Format, limits: Limits) -> Structure | None:
    """The walker's verdict; None for a rejection. Anything else propagates and fails the test."""
    try:
        structure = guards.inspect(data, fmt, limits)
    except ImageRejected:
        return None
    assert structure.chunks <= limits.max_chunks
    return structure


FORMATS = [
    formats.JPEG,
    formats.PNG,
    formats.GIF,
    formats.WEBP,
    formats.TIFF,
    formats.AVIF,
    formats.HEIF,
]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_seed_passes_its_walker(fmt: Format) -> None:
    # The fuzzing starts from files the walker accepts, so mutations reach deep into them.
    for data in seeds(fmt.name):
        assert walk(data, fmt, Limits()) is not None


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_mutated_files_end_in_a_verdict_or_a_rejection(fmt: Format) -> None:
    @FUZZ
    @given(data=mutated(fmt.name), limits=st.sampled_from(LIMITS))
    def check(data: bytes, limits: Limits) -> None:
        walk(data, fmt, limits)

    check()


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_noise_after_the_magic_bytes_ends_in_a_verdict_or_a_rejection(fmt: Format) -> None:
    @FUZZ
    @given(data=random_tail(fmt), limits=st.sampled_from(LIMITS))
    def check(data: bytes, limits: Limits) -> None:
        walk(data, fmt, limits)

    check()
