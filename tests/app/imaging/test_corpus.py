"""Every real photo through the pipeline: dimensions, no upscaling, orientation and colour.

Photos come from ../shared/corpus/photos when it is there (40 files), else from tests/fixtures
(Debian/PyPI photos only). Either way the generated cases below run too, so EXIF orientations
2-8, AVIF/HEIF container rotation, CMYK (Adobe-inverted, no profile), 16-bit, MPO and animated GIF
are always covered. Each variant is compared, at a small size, with `reference_original` (full
decode, exif_transpose, littleCMS from the embedded profile, exact Lanczos):

- orientation: the reference matches better than any flipped or rotated version of it;
- colour: mean CIEDE2000 against the reference;
- dimensions: the planned width, the original's aspect ratio, never wider than the original.

Every variant of every photo is encoded (AVIF at speed 9 is cheap enough); the full-size SSIM bar
(>= 0.95) is test_quality.py's job, on a subset, because it is the slow comparison.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.imaging.animation import AnimationBudget, make_animation
from app.imaging.colour import default_cmyk_profile
from app.imaging.encode import EncodeSettings
from app.imaging.limits import Limits
from app.imaging.pipeline import Master, load_master, render
from app.imaging.plan import plan_variants
from app.imaging.plugins import register_plugins
from quality.measures import delta_e, reference_downscale, reference_original, ssim
from tests.conftest import FIXTURES, corpus_rows, photo

LIMITS = Limits()
SETTINGS = EncodeSettings()
COMPARE_WIDTH = 128  # orientation and colour are judged at this width: cheap, and enough
# Mean CIEDE2000 at COMPARE_WIDTH. The worst corpus variants measure 2.7 (standard tier) and 7.7
# (160-lq, AVIF q35: small on purpose); an inverted or unconverted CMYK photo measures 8 to 30+.
MAX_DELTA_E = {"standard": 3.5, "weak": 5.0, "phone": 5.0, "low": 9.0}
# SSIM(upright reference) minus SSIM(best flipped/rotated one); the corpus minimum is 0.22.
MIN_ORIENTATION_MARGIN = 0.1
CORPUS = corpus_rows("photos")


def _fixture_names() -> list[str]:
    with (FIXTURES / "MANIFEST.tsv").open() as handle:
        return [line.split("\t", 1)[0] for line in handle.read().splitlines()[1:] if line]


PHOTOS = [row["filename"] for row in CORPUS] or _fixture_names()
ROWS = {row["filename"]: row for row in CORPUS}


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def small(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    rgba = img.convert("RGBA")
    return rgba if rgba.size == size else rgba.resize(size, Image.Resampling.LANCZOS)


_SAME_SHAPE = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_180,
)


def check_every_variant(path: Path, master: Master, *, upright: tuple[int, int]) -> list[str]:
    """Render every variant and check it; returns the names checked."""
    assert (master.width, master.height) == upright
    original = reference_original(path)
    assert original.size == upright  # the reference agrees on which way is up
    compare = (
        min(COMPARE_WIDTH, upright[0]),
        max(1, round(upright[1] * min(COMPARE_WIDTH, upright[0]) / upright[0])),
    )
    ref = small(reference_downscale(original, compare), compare)
    wrong = [ref.transpose(t) for t in _SAME_SHAPE]
    names = []
    for item in render(master.image, plan_variants(master.width), SETTINGS):
        img = decoded(item.data)
        name = item.spec.name
        # Dimensions: the planned width, the original's aspect ratio, no upscaling.
        assert img.size == (item.width, item.height), name
        assert item.width == min(item.spec.width, upright[0]) <= upright[0], name
        assert abs(item.height - item.width * upright[1] / upright[0]) <= 1, name
        got = small(img, compare)
        # Orientation: the upright reference is the best match among same-shaped transforms.
        right = ssim(got, ref)
        assert right - max(ssim(got, w) for w in wrong) >= MIN_ORIENTATION_MARGIN, name
        # Colour: against the reference conversion to sRGB.
        assert delta_e(got, ref) <= MAX_DELTA_E[item.spec.tier], name
        names.append(name)
    return names


def upright_size(name: str, path: Path) -> tuple[int, int]:
    """From the MANIFEST (an independent record) where there is one, else from the header."""
    row = ROWS.get(name)
    if row is None:
        with Image.open(path) as img:
            return img.size
    width, height = int(row["width"]), int(row["height"])
    return (height, width) if row["exif_orientation"] in ("5", "6", "7", "8") else (width, height)


@pytest.mark.parametrize("name", PHOTOS)
def test_every_photo_every_variant(name: str) -> None:
    path = photo(name)
    master = load_master(path, LIMITS)
    names = check_every_variant(path, master, upright=upright_size(name, path))
    assert {"160-lq.webp", "160-lq.jpg", "160-lq.avif", "320.webp"} <= set(names)
    if master.width >= 1920:
        assert {f"{w}.{f}" for w in (320, 640, 1280, 1920) for f in ("avif", "webp", "jpg")} <= set(
            names
        )


# --- Generated cases: always run, corpus or not ---------------------------------------------


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    """A real photo, small enough to be quick, with no symmetry to hide a wrong turn."""
    with Image.open(photo("mate_Storm.jpg")) as img:
        return img.convert("RGB").resize((600, 400), Image.Resampling.LANCZOS)


# Stored = inverse(orientation)(upright); the EXIF tag then says how to turn it back.
_INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientations_2_to_8(tmp_path: Path, scene: Image.Image, orientation: int) -> None:
    path = tmp_path / f"orient{orientation}.jpg"
    scene.transpose(_INVERSE[orientation]).save(path, "JPEG", quality=95, exif=_exif(orientation))
    master = load_master(path, LIMITS)
    check_every_variant(path, master, upright=scene.size)
    assert ssim(master.image.resize((150, 100)), scene.resize((150, 100))) > 0.9


@pytest.mark.parametrize(("fmt", "orientation"), [("AVIF", 6), ("AVIF", 2), ("HEIF", 8)])
def test_container_rotation_irot_imir(
    tmp_path: Path, scene: Image.Image, fmt: str, orientation: int
) -> None:
    """AVIF/HEIF keep rotation and mirroring in irot/imir boxes, not in EXIF."""
    register_plugins()
    path = tmp_path / f"rotated.{fmt.lower()}"
    stored = scene.transpose(_INVERSE[orientation])
    stored.save(path, fmt, quality=90, exif=_exif(orientation))
    box = b"irot" if orientation in (5, 6, 7, 8) else b"imir"
    assert box in path.read_bytes()  # the encoder turned the EXIF tag into a container box
    master = load_master(path, LIMITS)
    check_every_variant(path, master, upright=scene.size)
    assert ssim(master.image.resize((150, 100)), scene.resize((150, 100))) > 0.9


def _cmyk(scene: Image.Image) -> Image.Image:
    to_cmyk = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"),
        ImageCms.ImageCmsProfile(io.BytesIO(default_cmyk_profile())),
        "RGB",
        "CMYK",
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    out = ImageCms.applyTransform(scene, to_cmyk)
    assert out is not None
    return out


def test_cmyk_jpeg_without_profile_is_neither_inverted_nor_shifted(
    tmp_path: Path, scene: Image.Image
) -> None:
    path = tmp_path / "cmyk.jpg"
    _cmyk(scene).save(path, "JPEG", quality=95)  # Pillow writes Adobe APP14 (inverted) CMYK
    assert b"Adobe" in path.read_bytes()[:200]
    master = load_master(path, LIMITS)
    assert master.image.mode == "RGB"
    check_every_variant(path, master, upright=scene.size)
    # Close to the photo it was made from (the CMYK round trip itself costs ~3); Pillow's own
    # formula is further off, and an inverted image would be ~50 away.
    ours = delta_e(master.image, scene)
    assert ours < 4.0
    with Image.open(path) as img:
        assert delta_e(img.convert("RGB"), scene) > 1.5 * ours


def test_cmyk_jpeg_with_its_profile(tmp_path: Path, scene: Image.Image) -> None:
    path = tmp_path / "cmyk-icc.jpg"
    _cmyk(scene).save(path, "JPEG", quality=95, icc_profile=default_cmyk_profile())
    master = load_master(path, LIMITS)
    check_every_variant(path, master, upright=scene.size)
    assert delta_e(master.image, scene) < 4.0


def _png16(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit/channel RGB PNG, written by hand (Pillow cannot write one)."""
    height, width, _ = rgb16.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb16)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_16_bit_rgb_and_gray_are_reduced_correctly(tmp_path: Path, scene: Image.Image) -> None:
    wide = np.asarray(scene, dtype=np.uint32) * 257 + np.random.default_rng(1).integers(
        0, 257, size=(*scene.size[::-1], 3)
    )
    rgb_path = tmp_path / "rgb16.png"
    _png16(rgb_path, wide)
    master = load_master(rgb_path, LIMITS)
    expected = np.rint(wide / 257.0)
    assert np.abs(np.asarray(master.image, dtype=np.float64) - expected).max() <= 1
    check_every_variant(rgb_path, master, upright=scene.size)

    gray16 = (np.asarray(scene.convert("L"), dtype=np.uint32) * 257).astype(np.uint16)
    gray_path = tmp_path / "gray16.png"
    Image.fromarray(gray16).save(gray_path)
    master = load_master(gray_path, LIMITS)
    assert master.image.mode == "L"
    assert np.array_equal(np.asarray(master.image), np.asarray(scene.convert("L")))


def test_grayscale_with_a_profile_stays_gray_in_every_format(tmp_path: Path) -> None:
    with Image.open(photo("plasma_Grey_grayscale.jpg")) as img:
        gray = img.convert("L").resize((400, 250))
    path = tmp_path / "gray.jpg"
    gray.save(path, quality=92)
    master = load_master(path, LIMITS)
    assert master.image.mode == "L"
    for item in render(master.image, plan_variants(master.width), SETTINGS):
        rgb = np.asarray(decoded(item.data).convert("RGB"), dtype=np.int16)
        chroma = np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])
        assert chroma.mean() < 1.5, item.spec.name


def test_animated_gif_gives_a_first_frame_still_and_a_budgeted_animation(
    tmp_path: Path, scene: Image.Image
) -> None:
    frames = [scene.rotate(angle) for angle in range(0, 360, 12)]  # 30 frames
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    master = load_master(path, LIMITS)
    assert master.info.frames == 30
    check_every_variant(path, master, upright=scene.size)
    assert ssim(master.image.convert("RGB"), scene) > 0.95  # the first frame, not a later one
    assert ssim(master.image.convert("RGB"), frames[15].convert("RGB")) < 0.5

    budget = AnimationBudget(max_frames=10, max_width=320, max_pixels=10 * 320 * 214)
    animation = make_animation(path, budget)
    assert animation is not None
    assert animation.frames == 10 and animation.width <= 320
    assert animation.width * animation.height * animation.frames <= budget.max_pixels
    assert animation.duration_ms == 30 * 40  # dropped frames' time goes to the kept ones
    with Image.open(io.BytesIO(animation.data)) as webp:
        assert webp.format == "WEBP" and webp.is_animated and webp.n_frames == 10
        assert not webp.info.get("exif") and not webp.info.get("icc_profile")


def test_a_still_gets_no_animation(tmp_path: Path, scene: Image.Image) -> None:
    path = tmp_path / "still.webp"
    scene.save(path, "WEBP")
    assert make_animation(path) is None


def test_mpo_uses_its_first_frame(tmp_path: Path, scene: Image.Image) -> None:
    path = tmp_path / "stereo.mpo"
    scene.save(
        path, "MPO", save_all=True, append_images=[scene.transpose(Image.Transpose.ROTATE_180)]
    )
    master = load_master(path, LIMITS)
    assert master.info.frames == 2
    check_every_variant(path, master, upright=scene.size)
