"""The pipeline on real photos: sizes, orientation, colour, privacy and similarity."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from app.imaging.encode import EncodeSettings, avif_options
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits
from app.imaging.pipeline import load_master, render
from app.imaging.placeholder import make_placeholder
from app.imaging.plan import phone_encode, plan_variants
from app.imaging.realtime import no_realtime_here
from app.imaging.thumbhash import average_rgba
from app.services import Services
from quality.measures import ssim
from tests.conftest import jpeg_bytes, photo

LIMITS = Limits()
SETTINGS = EncodeSettings()


def reference(path: Path, width: int) -> Image.Image:
    """An exact Lanczos downscale of the full decode, upright and RGB."""
    with Image.open(path) as img:
        upright = ImageOps.exif_transpose(img.convert("RGB"))
    height = round(upright.height * width / upright.width)
    return upright.resize((width, height), Image.Resampling.LANCZOS)


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_plan_never_upscales_and_keeps_the_slot_holding_the_whole_image() -> None:
    names = {s.name: s.width for s in plan_variants(1000, ("webp",))}
    assert names == {
        "160-lq.webp": 160,
        "640-lq.webp": 640,  # the weak-network rendition of slot 640
        "320.webp": 320,
        "640.webp": 640,
        "1280.webp": 1000,
    }
    assert max(s.width for s in plan_variants(100, ("jpg",))) == 100
    # No 640-lq when 640 is the largest slot: a weak network gets 320 then (edge.negotiate).
    assert {s.name for s in plan_variants(640, ("jpg",))} == {"160-lq.jpg", "320.jpg", "640.jpg"}
    tiers = {s.name: s.tier for s in plan_variants(1000, ("avif",))}
    assert tiers == {
        "160-lq.avif": "low",
        "640-lq.avif": "weak",
        "320.avif": "standard",
        "640.avif": "standard",
        "720.avif": "phone",  # the phone slot: AVIF only, from slot 1280 up
        "1280.avif": "standard",
    }
    assert "720.webp" not in {s.name for s in plan_variants(1000)}
    assert "720.avif" not in {s.name for s in plan_variants(640)}


def test_the_phone_slot_is_encoded_for_its_density() -> None:
    # 720.avif: SVT-AV1 preset 4, tune 4 (MS-SSIM), CRF 30.5, two threads where encodes run one
    # at a time (the AVIF child); libaom speed 6 q58 tune=ssim, one thread (docs/delivery.md),
    # whatever the other tiers use.
    one_at_a_time = EncodeSettings(avif_codec="svt", threads=1)
    quality, settings = phone_encode((720, 480), one_at_a_time)
    assert quality == 51
    assert avif_options((720, 480), settings) == {
        "codec": "svt",
        "subsampling": "4:2:0",
        "max_threads": 2,
        "speed": 4,
        "advanced": {"tune": "4", "crf": "30.5"},
    }
    # Where libaom stands in for a failed SVT-AV1 encode, it gets none of SVT-AV1's options
    # (it refuses them) and its own phone speed, not preset 4.
    fallback = avif_options((720, 480), replace(settings, avif_codec="aom"))
    assert fallback["advanced"] == {"tune": "ssim"} and fallback["speed"] == 6
    assert fallback["max_threads"] == 1
    # Beside another encode, one thread: two SVT-AV1 encodes in one process, one of them on two
    # threads, crashed.
    _, side_by_side = phone_encode((720, 480), EncodeSettings(avif_codec="svt", threads=2))
    assert avif_options((720, 480), side_by_side)["max_threads"] == 1
    quality, settings = phone_encode((720, 480), EncodeSettings(avif_codec="aom"))
    assert (quality, settings.aom_speed) == (58, 6)
    assert avif_options((720, 480), settings)["advanced"] == {"tune": "ssim"}
    # A gray frame goes to libaom under SVT-AV1 too, and takes libaom's quality.
    quality, _ = phone_encode((720, 480), EncodeSettings(avif_codec="svt"), gray=True)
    assert quality == 58
    # The other tiers keep SVT-AV1's defaults, one thread.
    assert "advanced" not in avif_options((720, 480), SETTINGS)
    assert avif_options((720, 480), SETTINGS)["max_threads"] == 1


def test_the_phone_slots_svt_options_reach_the_encoder() -> None:
    """What render() stores for 720.avif is SVT-AV1's output with the tier's options."""
    with Image.open(photo("mate_Storm.jpg")) as img:
        frame = img.convert("RGB").resize((720, 480), Image.Resampling.LANCZOS)
    frame.info.clear()  # the pipeline writes pixels only
    (spec,) = [s for s in plan_variants(1280, ("avif",)) if s.tier == "phone"]
    (item,) = render({720: frame}, [spec], SETTINGS)

    def svt(**extra: object) -> bytes:
        out = io.BytesIO()
        no_realtime_here()  # as encode.py does, or this test process turns SCHED_FIFO
        frame.save(out, "AVIF", codec="svt", quality=51, speed=4, **extra)
        return out.getvalue()

    options = {"tune": "4", "crf": "30.5"}
    assert item.data == svt(advanced=options, max_threads=2)  # SVT-AV1 is deterministic,
    assert item.data == svt(advanced=options, max_threads=1)  # whatever its threads
    assert item.data != svt(max_threads=2)  # and the options change its output


def test_plan_leaves_out_a_format_that_cannot_hold_the_variant() -> None:
    """WebP stops at 16383 px a side: a tall strip keeps JPEG and AVIF at that width."""
    strip = {s.name for s in plan_variants(1, height=65500)}
    assert strip == {"160-lq.jpg", "160-lq.avif", "320.jpg", "320.avif"}
    tall = {s.name for s in plan_variants(1080, height=20000)}
    assert {"640.webp", "1280.jpg", "1280.avif"} <= tall  # 640x11852 fits WebP
    assert "1280.webp" not in tall  # 1080x20000 does not
    assert len(plan_variants(4000, height=3000)) == len(plan_variants(4000))


def test_a_1x65500_strip_renders_in_every_format_it_is_planned_for() -> None:
    strip = Image.new("RGB", (1, 65500), (90, 90, 200))
    specs = plan_variants(1, height=65500)
    rendered = {r.spec.name: (r.width, r.height) for r in render(strip, specs, SETTINGS)}
    assert rendered == {s.name: (1, 65500) for s in specs}


def test_every_variant_of_a_12_mp_photo() -> None:
    path = photo("lomiri16_Dragonfly_by_Bolly.jpg")
    master = load_master(path, LIMITS)
    assert (master.width, master.height) == (4224, 3168)
    assert master.image.width == 1920  # decoded once, small: DCT scaling then Lanczos
    rendered = list(render(master.image, plan_variants(master.width), SETTINGS))
    assert len(rendered) == 19  # 160-lq, 640-lq and 4 slots, in 3 formats; 720.avif
    for item in rendered:
        img = decoded(item.data)
        assert img.format == {"jpg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[item.spec.format]
        assert img.size == (item.width, item.height)
        assert item.width == item.spec.width
        assert abs(item.height - item.width * 3168 / 4224) <= 1
    by_name = {r.spec.name: r for r in rendered}
    ref = reference(path, 1280)
    for name in ("1280.jpg", "1280.webp", "1280.avif"):
        assert ssim(decoded(by_name[name].data).convert("RGB"), ref) >= 0.95, name


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # A landscape photo stored sideways with Orientation=6 must come out portrait.
    with Image.open(photo("mate_Storm.jpg")) as img:
        sideways = img.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "orient6.jpg"
    path.write_bytes(jpeg_bytes(sideways, exif=exif.tobytes(), quality=92))
    master = load_master(path, LIMITS)
    assert (master.width, master.height) == (1920, 1280)
    upright = reference(photo("mate_Storm.jpg"), 640)
    spec = [s for s in plan_variants(1920, ("jpg",)) if s.name == "640.jpg"]
    out = decoded(next(render(master.image, spec, SETTINGS)).data)
    assert out.size == upright.size
    assert ssim(out.convert("RGB"), upright) > 0.9


def test_no_exif_or_gps_survives(gps_jpeg: Path) -> None:
    with Image.open(gps_jpeg) as original:
        assert original.getexif().get_ifd(0x8825)  # the input really has GPS
    master = load_master(gps_jpeg, LIMITS)
    for item in render(master.image, plan_variants(master.width), SETTINGS):
        img = decoded(item.data)
        assert not img.getexif(), item.spec.name
        assert "exif" not in img.info and "xmp" not in img.info, item.spec.name
        assert b"TestCam" not in item.data


def test_adobe_rgb_is_converted_to_srgb() -> None:
    path = photo("skimage_rocket_adobergb.jpg")
    with Image.open(path) as img:
        assert img.info.get("icc_profile")
        naive = img.convert("RGB")  # pixels read as if they were sRGB
    master = load_master(path, LIMITS)
    # Adobe RGB values shown as sRGB look washed out; converted ones must differ from them.
    diff = sum(
        abs(a - b)
        for a, b in zip(naive.getpixel((320, 200)), master.image.getpixel((320, 200)), strict=True)
    )  # type: ignore[arg-type]
    assert diff > 3
    assert "icc_profile" not in master.image.info


def test_grayscale_stays_gray() -> None:
    master = load_master(photo("plasma_Grey_grayscale.jpg"), LIMITS)
    assert master.image.mode == "L"
    jpg = decoded(next(render(master.image, plan_variants(master.width, ("jpg",)), SETTINGS)).data)
    assert jpg.mode == "L"


def test_alpha_is_kept_in_webp_and_avif_and_flattened_in_jpeg(tmp_path: Path) -> None:
    with Image.open(photo("skimage_coffee.png")) as img:
        rgba = img.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    path = tmp_path / "alpha.png"
    rgba.save(path)
    master = load_master(path, LIMITS)
    assert master.image.mode == "RGBA"
    for item in render(master.image, plan_variants(master.width)[:3], SETTINGS):
        img = decoded(item.data)
        if item.spec.format == "jpg":
            assert img.mode == "RGB"
            assert img.getpixel((2, 1))[0] > 240  # type: ignore[index]  # transparent top -> white
        else:
            assert img.mode == "RGBA"
            assert img.getchannel("A").getextrema()[0] < 20


def test_placeholder_is_small_and_true_to_the_image() -> None:
    master = load_master(photo("mate_Storm.jpg"), LIMITS)
    hint = make_placeholder(master.image)
    assert hint.inline_bytes <= 1024
    assert hint.data_uri.startswith("data:image/webp;base64,")
    assert hint.dominant_color.startswith("#") and len(hint.dominant_color) == 7
    import base64

    r, g, b, _a = average_rgba(base64.b64decode(hint.thumbhash))
    mean = master.image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert abs(r * 255 - mean[0]) < 25 and abs(g * 255 - mean[1]) < 25  # type: ignore[index]
    assert abs(b * 255 - mean[2]) < 25  # type: ignore[index]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", Reason.EMPTY_FILE),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", Reason.UNSUPPORTED_FORMAT),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", Reason.UNSUPPORTED_FORMAT),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, Reason.CORRUPT),
    ],
)
def test_bad_inputs_get_a_specific_reason(tmp_path: Path, content: bytes, reason: Reason) -> None:
    path = tmp_path / "upload.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageRejected) as caught:
        load_master(path, LIMITS)
    assert caught.value.reason is reason


def test_truncated_jpeg_is_reported_as_truncated(tmp_path: Path) -> None:
    data = photo("mate_Storm.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageRejected) as caught:
        load_master(path, LIMITS)
    assert caught.value.reason is Reason.TRUNCATED


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(path)
    with pytest.raises(ImageRejected) as caught:
        load_master(path, Limits(max_pixels=5_000_000))
    assert caught.value.reason is Reason.TOO_MANY_PIXELS


def test_the_stages_record_an_animated_webp_and_the_first_paint_early(
    services: Services, tmp_path: Path
) -> None:
    from app import processing
    from app.catalog import Status
    from tests.app.test_processing import run_chain, upload

    with Image.open(photo("mate_Storm.jpg")) as img:
        scene = img.convert("RGB").resize((480, 320))
    frames = [scene.rotate(angle) for angle in range(0, 360, 30)]
    path = tmp_path / "spin.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    image_id = upload(services, path)
    assert processing.claim(services, image_id)
    processing.resize(services, image_id)
    first = services.catalog.get(image_id)
    assert first.placeholder is not None  # the first paint is recorded by the resize stage
    assert {v.name for v in first.variants if not v.on_request} == {"160-lq.webp", "640.webp"}
    run_chain(services, image_id)
    record = services.catalog.get(image_id)
    assert record.status is Status.READY
    assert record.animated is not None and record.animated.name == "animated.webp"
    with Image.open(services.variants.open(record.animated.key)) as anim:
        assert anim.is_animated and anim.n_frames == 12
    assert all(v.name != "animated.webp" for v in record.variants)  # the fixed set stays fixed
