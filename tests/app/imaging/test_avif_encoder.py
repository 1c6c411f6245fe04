"""AVIF through pillow-avif-plugin: SVT-AV1 where it can, libaom elsewhere, same bytes every time.

SVT-AV1 refuses frames under 4 px a side or over 16384 x 8704 (the error is a bare "Encoding of
color planes failed"); a 1-px-wide strip or a 160 px variant of a panorama must still get its
AVIF. Stored variants are compared and cached by their bytes, so an encode must be repeatable,
also with encodes running side by side in the render pool.
"""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import AvifImagePlugin, Image

from app.imaging.encode import (
    SVT_MAX_HEIGHT,
    SVT_MAX_WIDTH,
    EncodeSettings,
    avif_codec,
    encode,
)
from app.imaging.plugins import register_plugins

SETTINGS = EncodeSettings(avif_codec="svt")  # SVT-AV1's rules, where it is chosen


def _scene(size: tuple[int, int]) -> Image.Image:
    return Image.effect_mandelbrot((96, 64), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB").resize(size)


def test_svt_av1_is_the_default_and_libaom_takes_what_it_refuses() -> None:
    assert avif_codec((1920, 1280), EncodeSettings()) == "svt"
    assert avif_codec((1920, 1280), SETTINGS) == "svt"
    assert avif_codec((4, 4), SETTINGS) == "svt"
    assert avif_codec((SVT_MAX_WIDTH, SVT_MAX_HEIGHT), SETTINGS) == "svt"
    for size in ((3, 100), (100, 3), (1, 1), (SVT_MAX_WIDTH + 1, 64), (64, SVT_MAX_HEIGHT + 1)):
        assert avif_codec(size, SETTINGS) == "aom", size
    assert avif_codec((1920, 1280), EncodeSettings(avif_codec="aom")) == "aom"
    assert avif_codec((1920, 1280), SETTINGS, gray=True) == "aom"  # no 4:0:0 in SVT-AV1


@pytest.mark.parametrize("size", [(1, 1), (3, 40), (40, 3), (4, 4), (7, 5), (160, 107)])
def test_small_frames_encode_and_decode_at_their_size(size: tuple[int, int]) -> None:
    data = encode(_scene(size), "avif", 72, SETTINGS)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format == "AVIF" and img.size == size


def test_a_frame_taller_than_svt_av1_allows_still_gets_an_avif() -> None:
    size = (8, SVT_MAX_HEIGHT + 8)
    data = encode(Image.new("RGB", size, (200, 40, 90)), "avif", 60, SETTINGS)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == size


def test_alpha_survives_svt_av1() -> None:
    frame = _scene((160, 107)).convert("RGBA")
    frame.putalpha(Image.linear_gradient("L").resize(frame.size))
    with Image.open(io.BytesIO(encode(frame, "avif", 72, SETTINGS))) as img:
        assert img.mode == "RGBA"
        low, high = img.getchannel("A").getextrema()
        assert low < 10 and high > 245


def test_encodes_are_repeatable_alone_and_side_by_side() -> None:
    frames = [_scene((640, 427)), _scene((320, 213)), _scene((641, 427))]
    alone = [encode(f, "avif", 72, SETTINGS) for f in frames]
    assert alone == [encode(f, "avif", 72, SETTINGS) for f in frames]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda f: encode(f, "avif", 72, SETTINGS), frames * 2))
    assert together == alone * 2


def test_the_plugin_writes_avif_and_pillow_still_reads_it() -> None:
    register_plugins()
    Image.init()  # a later lazy init must not put Pillow's own writer back
    assert Image.SAVE["AVIF"].__module__ == "pillow_avif.AvifImagePlugin"
    assert Image.OPEN["AVIF"][0] is AvifImagePlugin.AvifImageFile


def test_pillows_reader_is_put_back_even_when_the_plugin_was_imported_first() -> None:
    # What a second thread sees when two first encodes register the plugins at once.
    code = (
        "import pillow_avif\n"
        "from PIL import AvifImagePlugin, Image\n"
        "from app.imaging.plugins import register_plugins\n"
        "register_plugins()\n"
        "assert Image.OPEN['AVIF'][0] is AvifImagePlugin.AvifImageFile, Image.OPEN['AVIF']\n"
        "assert Image.SAVE['AVIF'].__module__ == 'pillow_avif.AvifImagePlugin'\n"
    )
    root = Path(__file__).resolve().parents[3]
    run = [sys.executable, "-c", code]
    done = subprocess.run(run, check=False, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_svt_encode_that_fails_falls_back_to_libaom(monkeypatch: pytest.MonkeyPatch) -> None:
    """SVT-AV1 could not start its threads in a worker near its ceiling: the AVIF still comes."""
    real_save = Image.Image.save
    codecs: list[object] = []

    def save(self: Image.Image, fp: object, format: object = None, **params: object) -> None:
        codecs.append(params.get("codec"))
        if params.get("codec") == "svt":
            raise RuntimeError("Failed to encode image: Encoding of color planes failed")
        real_save(self, fp, format, **params)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", save)
    data = encode(Image.new("RGB", (640, 427), (90, 140, 200)), "avif", 70, SETTINGS)
    assert codecs == ["svt", "aom"]
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size) == ("AVIF", (640, 427))
