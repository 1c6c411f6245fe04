"""Quality at the default settings, and the placeholder.

- Every standard-tier variant reaches SSIM >= 0.95 against an exact Lanczos downscale of the
  original (full decode, no DCT scaling, no cascade), at full variant size. Run on the fixtures
  and, with the corpus, on its hardest photos (the ones that set the encoder qualities; the
  benchmark reports the mean over all its photos). The 160-lq tier is small on purpose (Save-Data):
  it has its own, lower floor.
- The placeholder (ThumbHash + tiny WebP data URI) is at most 1 KB and true to the image, and the
  dominant colour is one the image really has.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.imaging.pipeline import load_master, render
from app.imaging.placeholder import make_placeholder
from app.imaging.plan import plan_variants
from app.imaging.thumbhash import average_rgba
from quality.measures import reference_downscale, reference_original, ssim
from tests.app.imaging.test_corpus import PHOTOS, _fixture_names
from tests.conftest import photo

LIMITS = Limits()
SETTINGS = EncodeSettings()
MIN_SSIM = 0.95
MIN_SSIM_LOW_TIER = 0.75
# 640-lq, served to 3g: docs/delivery.md holds it to 0.92 at 720 px on the gallery; at its own
# size, against the exact downscale, on the hardest photos:
MIN_SSIM_WEAK_TIER = 0.85
# 720.avif, served at DPR >= 2 only: docs/delivery.md holds its gallery mean to WebP q80's at
# 720 px; at its own size, on the hardest photos:
MIN_SSIM_PHONE_TIER = 0.92
# The corpus photos that need the highest qualities (fine foliage, noise, CMYK, small photos).
HARDEST = (
    "plasma_Path.jpg",
    "thumbor_Giunchedi_cmyk_orient6.jpg",
    "exifsamples_DSCN0010_gps.jpg",
    "exifsamples_landscape_2_orient2.jpg",
    "sharp_webp_gallery_4.webp",
    "recurser_Landscape_8_orient8.jpg",
)
QUALITY_SET = _fixture_names() + [name for name in HARDEST if name in PHOTOS]


@pytest.mark.parametrize("name", QUALITY_SET)
def test_every_variant_reaches_ssim_095_at_default_settings(name: str) -> None:
    path = photo(name)
    master = load_master(path, LIMITS)
    original = reference_original(path)
    for item in render(master.image, plan_variants(master.width), SETTINGS):
        with Image.open(io.BytesIO(item.data)) as img:
            score = ssim(img, reference_downscale(original, img.size))
        floor = {
            "standard": MIN_SSIM,
            "weak": MIN_SSIM_WEAK_TIER,
            "phone": MIN_SSIM_PHONE_TIER,
        }.get(item.spec.tier, MIN_SSIM_LOW_TIER)
        assert score >= floor, (item.spec.name, round(score, 4))


@pytest.mark.parametrize("name", _fixture_names())
def test_placeholder_is_under_1_kb_and_true_to_the_image(name: str) -> None:
    master = load_master(photo(name), LIMITS)
    hint = make_placeholder(master.image)
    assert hint.inline_bytes <= 1024
    # ThumbHash: its average colour is the image's.
    hash_ = base64.b64decode(hint.thumbhash)
    assert 5 <= len(hash_) <= 40
    r, g, b, a = average_rgba(hash_)
    mean = np.asarray(master.image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
    assert np.abs(np.array([r, g, b]) * 255 - mean).max() < 20
    assert a == 1.0
    # The data URI is a tiny WebP of the same picture.
    prefix = "data:image/webp;base64,"
    assert hint.data_uri.startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(hint.data_uri[len(prefix) :]))) as tiny:
        assert tiny.format == "WEBP" and tiny.width <= 32
        assert abs(tiny.width / tiny.height - master.width / master.height) < 0.15
        small = master.image.convert("RGB").resize(tiny.size, Image.Resampling.BOX)
        assert ssim(tiny.convert("RGB"), small) > 0.5
    # The dominant colour is close to colours the image really has.
    rgb = tuple(int(hint.dominant_color[i : i + 2], 16) for i in (1, 3, 5))
    pixels = np.asarray(master.image.convert("RGB").resize((64, 64)), dtype=np.float64)
    assert np.sqrt(((pixels - rgb) ** 2).sum(axis=-1)).min() < 30


def test_placeholder_of_a_transparent_image_keeps_its_alpha() -> None:
    with Image.open(photo("skimage_coffee.png")) as img:
        rgba = img.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    hint = make_placeholder(rgba)
    assert hint.inline_bytes <= 1024
    *_rgb, alpha = average_rgba(base64.b64decode(hint.thumbhash))
    assert 0.2 < alpha < 0.8
    data = base64.b64decode(hint.data_uri.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as tiny:
        assert tiny.mode == "RGBA"


def test_placeholder_of_a_tall_thin_image_stays_small() -> None:
    strip = Image.linear_gradient("L").convert("RGB").resize((40, 4000))
    hint = make_placeholder(strip)
    assert hint.inline_bytes <= 1024
