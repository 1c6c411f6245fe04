"""The network benchmark's pure parts: the transfer model, the phone, the choice, the report."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.imaging.encode import EncodeSettings, encode
from app.imaging.plan import plan_variants
from bench.network import (
    CLOUDFRONT_EGRESS_PER_GB,
    COMPUTE_PER_CPU_SECOND,
    DOCS_END,
    DOCS_START,
    GALLERY_FORMATS,
    NETWORKS,
    S3_PUT_PER_1000,
    S3_STORAGE_PER_GB_MONTH,
    SCREEN_SHARES,
    STORAGE_MONTHS,
    VIEW_PATTERN,
    WIFI_SCREENS,
    Network,
    Row,
    Screen,
    ScreenRow,
    add_held_out_options,
    bytes_per_view,
    bytes_per_view_before,
    choose,
    choose_before,
    cost_table,
    gallery,
    main,
    phone_headers,
    prepare,
    reduction,
    run_screen,
    screen_table,
    similarity,
    table,
    targets,
    targets_4g,
    transfer_seconds,
    update_docs,
    view_shares,
    width_costs,
    wifi_targets,
)
from tests.conftest import photo

BY_NAME = {n.name: n for n in NETWORKS}
BIG_PHOTO = [spec.name for spec in plan_variants(4000)]  # every slot, every format


def test_network_classes_are_chromiums_typical_values() -> None:
    assert [(n.name, n.rtt_ms, n.downlink_mbps) for n in NETWORKS] == [
        ("slow-2g", 3600.0, 0.040),
        ("2g", 1800.0, 0.075),
        ("3g", 450.0, 0.400),
        ("4g", 175.0, 1.600),
    ]


def test_transfer_time_is_round_trips_plus_bytes_over_the_downlink() -> None:
    net = Network("test", rtt_ms=100.0, downlink_mbps=1.0)
    assert transfer_seconds(0, net) == pytest.approx(0.3)  # TCP + TLS + request
    assert transfer_seconds(125_000, net) == pytest.approx(0.3 + 1.0)  # 1 Mbit at 1 Mbps
    assert transfer_seconds(125_000, net, handshake_rtts=0) == pytest.approx(1.1)
    assert transfer_seconds(400_000, BY_NAME["3g"]) == pytest.approx(1.35 + 8.0)
    with pytest.raises(ValueError, match="negative"):
        transfer_seconds(-1, net)


def test_the_phone_sends_chrome_android_hints() -> None:
    headers = phone_headers(BY_NAME["2g"])
    assert headers["Accept"].startswith("image/avif,image/webp,")
    assert headers["Sec-CH-DPR"] == "2"
    assert headers["Sec-CH-Viewport-Width"] == "360"
    assert headers["ECT"] == "2g"
    assert "Android" in headers["User-Agent"]


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ("4g", "720.avif"),  # 720 device px at DPR 2: the phone slot, the closest fit
        ("3g", "640-lq.avif"),  # one slot smaller, at the weak-network quality
        ("2g", "320.avif"),  # two rungs smaller
        ("slow-2g", "160-lq.avif"),  # three rungs: the low-quality tier
    ],
)
def test_the_edge_choice_for_the_phone(network: str, expected: str) -> None:
    assert choose(BIG_PHOTO, phone_headers(BY_NAME[network])) == expected


def test_the_choice_is_only_ever_a_stored_variant() -> None:
    fast_only = [name for name in BIG_PHOTO if not name.endswith(".avif")]
    assert choose(fast_only, phone_headers(BY_NAME["3g"])) == "640-lq.webp"
    small = [spec.name for spec in plan_variants(500)]  # slots 320 and 640 (500 px)
    assert choose(small, phone_headers(BY_NAME["4g"])) == "640.avif"


def test_reduction() -> None:
    assert reduction(100, 1000) == pytest.approx((10.0, 0.9))
    assert reduction(70, 100)[1] == pytest.approx(0.30)
    with pytest.raises(ValueError, match="positive"):
        reduction(0, 100)


def row(**changes: object) -> Row:
    values: dict[str, object] = {
        "network": "3g",
        "rtt_ms": 450.0,
        "downlink_mbps": 0.4,
        "served": {"640.avif": 12},
        "edge_bytes": 300_000,
        "edge_seconds": 7.35,
        "original_bytes": 20_000_000,
        "original_seconds": 401.35,
        "fixed_bytes": 450_000,
        "fixed_seconds": 10.35,
        "times_fewer_than_originals": 20_000_000 / 300_000,
        "fraction_fewer_than_fixed": 1 - 300_000 / 450_000,
        "ssim_mean": 0.96,
        "ssim_min": 0.94,
        "fixed_ssim_mean": 0.97,
    }
    return Row(**(values | changes))  # type: ignore[arg-type]


def test_targets_are_judged_on_the_3g_row_and_the_placeholders() -> None:
    met = [ok for _, ok, _ in targets(row(), placeholder_total=2200)]
    assert met == [True, True, True, True]
    missed = targets(row(fraction_fewer_than_fixed=0.282, ssim_min=0.91), placeholder_total=8000)
    assert [ok for _, ok, _ in missed] == [True, False, False, False]
    assert missed[1][2] == "28.2% fewer"
    # Another number of photos: the 12-photo budget in proportion, and the label says so.
    (name, ok, _) = targets(row(), placeholder_total=2100, photos=3)[3]
    assert (name, ok) == ("all 3 placeholders together < 2000 bytes", False)


def test_table_has_one_line_per_class() -> None:
    text = table([row(), row(network="4g", served={"1280.avif": 11, "1280.jpg": 1})])
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert "12× 640.avif" in lines[2]
    assert "11× 1280.avif, 1× 1280.jpg" in lines[3]


def test_update_docs_replaces_only_the_marked_section(tmp_path: Path) -> None:
    docs = tmp_path / "delivery.md"
    docs.write_text(f"# Delivery\n\n{DOCS_START}\nold\n{DOCS_END}\n\nAfter.\n")
    assert update_docs("new table", docs)
    assert docs.read_text() == f"# Delivery\n\n{DOCS_START}\nnew table\n{DOCS_END}\n\nAfter.\n"
    (tmp_path / "bare.md").write_text("no markers")
    assert not update_docs("x", tmp_path / "bare.md")


def test_the_gallery_has_twelve_real_photos() -> None:
    paths, source = gallery()
    assert len(paths) == 12
    assert all(p.exists() for p in paths)
    assert source.startswith(("corpus:", "fixtures:"))


def test_skip_takes_the_next_largest_jpegs_and_says_so(tmp_path: Path) -> None:
    rows = [("small.jpg", 100, "JPEG"), ("big.jpg", 400, "JPEG"), ("mid.jpg", 200, "JPEG")]
    rows.append(("huge.png", 900, "PNG"))  # not a JPEG: never in the gallery
    lines = ["filename\twidth\theight\tformat"] + [f"{n}\t{w}\t{w}\t{f}" for n, w, f in rows]
    (tmp_path / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
    paths, source = gallery(2, tmp_path, skip=1)
    assert [p.name for p in paths] == ["mid.jpg", "small.jpg"]
    assert source == f"corpus: the 2 largest JPEG photos after the 1 largest of {tmp_path}"
    assert [p.name for p in gallery(1, tmp_path)[0]] == ["big.jpg"]
    # Too few JPEGs after the skip: the fixtures, and the source says so.
    assert gallery(3, tmp_path, skip=1)[1].startswith("fixtures:")


def test_formats_pick_the_largest_photos_of_those_formats(tmp_path: Path) -> None:
    # The phones' own HEIFs and AVIFs: photos no setting was tuned on.
    rows = [("big.jpg", 900, "JPEG"), ("phone.heic", 400, "HEIF"), ("phone.avif", 500, "AVIF")]
    rows.append(("small.heif", 100, "HEIF"))
    lines = ["filename\twidth\theight\tformat"] + [f"{n}\t{w}\t{w}\t{f}" for n, w, f in rows]
    (tmp_path / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
    paths, source = gallery(2, tmp_path, formats=("HEIF", "AVIF"))
    assert [p.name for p in paths] == ["phone.avif", "phone.heic"]
    assert source == f"corpus: the 2 largest HEIF/AVIF photos of {tmp_path}"


def test_prepare_makes_caches_and_scores_a_photo(tmp_path: Path) -> None:
    settings = EncodeSettings()
    first = prepare(photo("skimage_coffee.png"), settings, cache=tmp_path)
    assert set(first.variant_bytes) == {spec.name for spec in plan_variants(600)}
    assert first.fixed_bytes > 0
    assert 0 < first.placeholder_bytes < 700
    again = prepare(photo("skimage_coffee.png"), settings, cache=tmp_path)
    assert again == first  # read back from the cache
    # The 600 px photo is stored at 600 px under the 640 slot; compared at 600 px (its 720 ref).
    assert similarity(first, "640.avif") > 0.9
    assert similarity(first, "160-lq.jpg") < similarity(first, "640.jpg")


def test_4g_targets_judge_bytes_against_the_fixed_policy_and_its_ssim() -> None:
    met = targets_4g(row(network="4g", fraction_fewer_than_fixed=0.31, ssim_mean=0.975))
    assert [ok for _, ok, _ in met] == [True, True]
    assert met[0][2] == "69.0%"
    missed = targets_4g(row(network="4g", fraction_fewer_than_fixed=0.13, ssim_mean=0.969))
    assert [ok for _, ok, _ in missed] == [False, False]
    assert "0.9700" in missed[1][0]


def test_wifi_and_desktop_screens_send_no_network_hints() -> None:
    assert [(s.css_width, s.dpr) for s in WIFI_SCREENS[1:]] == [
        (1280, 1.0),
        (1920, 1.0),
        (1280, 2.0),
        (1920, 2.0),
    ]
    for screen in WIFI_SCREENS:
        assert "ECT" not in screen.headers()
    assert [s.shown for s in WIFI_SCREENS] == [720, 1280, 1920, 1920, 1920]
    assert "Mobile" in WIFI_SCREENS[0].headers()["User-Agent"]


def test_before_is_the_covering_slot_with_dpr_capped_at_3() -> None:
    phone = Screen("phone", 360, 2.0, "4g", mobile=True)
    assert choose_before(BIG_PHOTO, phone) == "1280.avif"
    assert choose(BIG_PHOTO, phone.headers()) == "720.avif"
    # 3g is unchanged: both rules give the weak rendition.
    weak = Screen("phone", 360, 2.0, "3g", mobile=True)
    assert choose_before(BIG_PHOTO, weak) == choose(BIG_PHOTO, weak.headers()) == "640-lq.avif"
    # Desktops below DPR 2: the same choice both ways.
    for screen in WIFI_SCREENS[1:]:
        assert choose_before(BIG_PHOTO, screen) == choose(BIG_PHOTO, screen.headers())


def test_view_pattern_shares_add_up_to_one() -> None:
    assert sum(share for _, share in VIEW_PATTERN) == pytest.approx(1.0)


def test_views_are_split_by_the_formats_browsers_take_and_only_chrome_sends_ect() -> None:
    shares = view_shares(BIG_PHOTO)
    assert sum(shares.values()) == pytest.approx(1.0)
    by_format: dict[str, float] = {}
    for name, share in shares.items():
        by_format[name.rsplit(".", 1)[1]] = by_format.get(name.rsplit(".", 1)[1], 0.0) + share
    assert by_format == pytest.approx({"avif": 0.93, "webp": 0.06, "jpg": 0.01})
    # A phone without AVIF gets the 640 slot, on every network (it sends no ECT).
    phones = sum(share for screen, share in SCREEN_SHARES if screen.mobile)
    assert shares["640.webp"] == pytest.approx(0.06 * phones)
    assert not [n for n in shares if "-lq." in n and not n.endswith(".avif")]
    assert all("ECT" not in s.headers() for s, _ in VIEW_PATTERN if "avif" not in s.accept)


def screen_row(**changes: object) -> ScreenRow:
    values: dict[str, object] = {
        "screen": "desktop 1280 @1",
        "shown": 1280,
        "served": {"1280.avif": 12},
        "edge_bytes": 1_000_000,
        "before_served": {"1280.avif": 12},
        "before_bytes": 1_000_000,
        "ssim_mean": 0.98,
        "ssim_min": 0.96,
        "before_ssim_mean": 0.98,
    }
    return ScreenRow(**(values | changes))  # type: ignore[arg-type]


def test_wifi_targets_ignore_the_phone_and_catch_more_bytes_or_lower_ssim() -> None:
    phone = screen_row(screen="phone, Wi-Fi", edge_bytes=2_000_000, ssim_min=0.5)
    assert [ok for _, ok, _ in wifi_targets([phone, screen_row()])] == [True, True]
    heavier = screen_row(edge_bytes=1_100_000)
    assert [ok for _, ok, _ in wifi_targets([heavier])] == [False, True]
    blurry = screen_row(ssim_min=0.949)
    assert [ok for _, ok, _ in wifi_targets([blurry])] == [True, False]
    lines = screen_table([screen_row(), heavier]).splitlines()
    assert len(lines) == 4
    assert "+10%" in lines[3]


def test_screens_and_width_costs_on_a_real_photo(tmp_path: Path) -> None:
    photo_ = prepare(photo("skimage_coffee.png"), EncodeSettings(), cache=tmp_path)
    # The fixed policy is WebP q80 at libwebp's default effort, whatever the pipeline's.
    frame = photo_.image("reference.png")
    assert photo_.fixed_bytes == len(encode(frame, "webp", 80, EncodeSettings(webp_method=4)))
    assert photo_.fixed_bytes != len(encode(frame, "webp", 80, EncodeSettings(webp_method=2)))
    row_ = run_screen([photo_], WIFI_SCREENS[1])
    # A 600 px photo: every desktop gets its largest slot (640, stored at 600 px).
    assert row_.served == {"640.avif": 1} == row_.before_served
    assert row_.ssim_min > 0.95
    costs = {c.stem: c for c in width_costs([photo_])}
    assert set(costs) == {"160-lq", "320", "640"}
    big = costs["640"]
    stored = sum(b for n, b in photo_.variant_bytes.items() if n.startswith("640."))
    assert big.stored_bytes == stored
    assert big.objects == 3
    cpu = sum(s for n, s in photo_.variant_cpu.items() if n.startswith("640."))
    assert big.cpu_seconds == pytest.approx(cpu) and cpu > 0
    expected = 3 * S3_PUT_PER_1000 / 1000 + stored / 1e9 * S3_STORAGE_PER_GB_MONTH * STORAGE_MONTHS
    assert big.keep_dollars == pytest.approx(expected + cpu * COMPUTE_PER_CPU_SECOND)
    # Weak networks step down to 320 (a 600 px photo has no 640-lq); the rest get 640.
    # Without 640 they would get 320: fewer bytes, so it is kept for quality, not bytes.
    assert big.bytes_saved_per_view < 0
    assert big.break_even_views is None
    assert big.share_of_views == pytest.approx(
        1 - sum(s for sc, s in VIEW_PATTERN if sc.network in ("3g", "2g", "slow-2g"))
    )
    assert big.ssim_without is not None and big.ssim_without < row_.ssim_mean
    # 160-lq saves bytes on slow-2g: it pays for itself after some views.
    tiny = costs["160-lq"]
    assert tiny.bytes_saved_per_view > 0
    assert tiny.break_even_views == pytest.approx(
        tiny.keep_dollars / (tiny.bytes_saved_per_view / 1e9 * CLOUDFRONT_EGRESS_PER_GB)
    )
    assert bytes_per_view([photo_]) == bytes_per_view_before([photo_])
    text = cost_table(list(costs.values()), 1000.0, 900.0)
    assert "-10%" in text
    assert "read 2026-11-29" in text


def test_held_out_options_parse_formats_and_refuse_to_rewrite_the_docs() -> None:
    parser = argparse.ArgumentParser()
    add_held_out_options(parser)
    assert parser.parse_args(["--formats", "HEIF,AVIF"]).formats == ("HEIF", "AVIF")
    assert parser.parse_args([]).formats == GALLERY_FORMATS
    with pytest.raises(SystemExit):
        main(["--update-docs", "--formats", "HEIF,AVIF", "--count", "3"])
