"""The measures that tune every encoder setting, checked against someone else's answers:
CIEDE2000 against the published test pairs, SSIM and L*a*b* against scikit-image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from quality.measures import ciede2000, lab, ssim
from tests.conftest import photo

PAIRS = np.loadtxt(Path(__file__).parent / "vectors" / "ciede2000_sharma.txt")


def test_ciede2000_matches_all_34_published_pairs() -> None:
    assert PAIRS.shape == (34, 7)
    got = ciede2000(PAIRS[:, 0:3], PAIRS[:, 3:6])
    np.testing.assert_allclose(got, PAIRS[:, 6], atol=5e-5)  # the table has 4 decimals
    np.testing.assert_allclose(ciede2000(PAIRS[:, 3:6], PAIRS[:, 0:3]), got, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("mate_Storm.jpg", lambda im: im.filter(ImageFilter.GaussianBlur(2))),
        (
            "skimage_coffee.png",
            lambda im: im.resize((im.width // 3, im.height // 3)).resize(im.size),
        ),
        ("plasma_Grey_grayscale.jpg", lambda im: im.point(lambda v: min(255, v + 12))),
    ],
)
def test_ssim_agrees_with_scikit_image(name: str, change: object) -> None:
    from skimage.metrics import structural_similarity

    with Image.open(photo(name)) as img:
        original = img.convert("RGB")
    changed = change(original)  # type: ignore[operator]
    ours = ssim(original, changed)
    x = np.asarray(original.convert("L"), dtype=np.float64)
    y = np.asarray(changed.convert("L"), dtype=np.float64)
    reference = structural_similarity(x, y, data_range=255)  # 7x7 uniform, sample covariance
    assert 0.3 < reference < 0.999  # the change is visible, so the comparison means something
    assert ours == pytest.approx(reference, abs=1e-9)


def test_lab_agrees_with_scikit_image() -> None:
    from skimage.color import rgb2lab

    with Image.open(photo("skimage_coffee.png")) as img:
        rgb = img.convert("RGB")
    reference = rgb2lab(np.asarray(rgb, dtype=np.float64) / 255)  # D65, 2 degrees
    np.testing.assert_allclose(lab(rgb), reference, atol=0.02)
