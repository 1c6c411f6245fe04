"""negotiate(): format from Accept (+ the Safari AVIF rule), width from Client Hints, and
the network-class / Save-Data step-down. Also the variant name set and the stdlib rule."""

from __future__ import annotations

import ast
import itertools
import re
import sys
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import NamedTuple

import pytest

from edge.negotiate import Choice, negotiate
from edge.variants import (
    CONTENT_TYPES,
    FORMATS,
    LQ_WIDTH,
    LQ_WIDTHS,
    PHONE_FORMATS,
    PHONE_SLOT,
    SLOTS,
    Variant,
    all_names,
    parse_name,
    standard_set,
)

EDGE_DIR = Path(__file__).resolve().parents[2] / "edge"
FULL = standard_set(1920)


class Browser(NamedTuple):
    id: str
    user_agent: str | None
    accept: str | None  # the Accept header of an <img> request; None = not sent
    format: str  # what a full (avif/webp/jpg) image must be served as


# Accept headers browsers send for <img> requests (MDN "List of default Accept values",
# whatwg/fetch#1740, mdn/content#34047) with matching User-Agents.
BROWSERS = [
    Browser(
        "chrome-131",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
        "avif",
    ),
    Browser(
        "firefox-133",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
        "avif",
    ),
    Browser(
        "firefox-115",
        "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
        "image/avif,image/webp,*/*",
        "avif",
    ),
    Browser(
        "safari-15-macos",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/15.6.1 Safari/605.1.15",
        "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5",
        "webp",
    ),
    Browser(
        "safari-16.0-macos",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.0 Safari/605.1.15",
        "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
        "webp",
    ),
    Browser(
        "safari-16.0-ios",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1",
        "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
        "webp",
    ),
    Browser(
        "safari-16.4-macos",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.4 Safari/605.1.15",
        "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
        "avif",
    ),
    Browser(
        "safari-17-ios",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
        "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
        "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
        "avif",
    ),
    Browser(
        "android-4.4-webview",
        "Mozilla/5.0 (Linux; Android 4.4.4; Nexus 5 Build/KTU84P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/33.0.0.0 Mobile Safari/537.36",
        "image/webp,*/*;q=0.8",
        "webp",
    ),
    Browser(
        "edge-131",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
        "avif",
    ),
    Browser(
        "edge-18-legacy",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
        "image/png, image/svg+xml, image/jxr, image/*; q=0.8, */*; q=0.5",
        "jpg",
    ),
    Browser("curl", "curl/8.5.0", "*/*", "jpg"),
    Browser("no-accept", "python-requests/2.32.3", None, "jpg"),
]


class Network(NamedTuple):
    id: str
    headers: dict[str, str]
    stem: str  # the variant chosen when the layout needs 1280 device px
    network_class: str
    save_data: bool = False


# Every row also carries DPR 2 x viewport 640 CSS px = 1280 device px. A weak network or
# Save-Data that lands on slot 640 is served its weak-network rendition, 640-lq.
LAYOUT_1280 = {"Sec-CH-DPR": "2", "Sec-CH-Viewport-Width": "640"}
NETWORKS = [
    Network("no-network-hints", {}, "1280", "unknown"),
    Network("ect-4g", {"ECT": "4g"}, "1280", "4g"),
    Network("ect-3g", {"ECT": "3g"}, "640-lq", "3g"),
    Network("ect-2g", {"ECT": "2g"}, "320", "2g"),
    Network("ect-slow-2g", {"ECT": "slow-2g"}, "160-lq", "slow-2g"),
    Network("rtt-downlink-fast", {"RTT": "50", "Downlink": "10"}, "1280", "4g"),
    Network("rtt-300", {"RTT": "300"}, "640-lq", "3g"),
    Network("downlink-0.06", {"Downlink": "0.06"}, "320", "2g"),
    Network("rtt-2100", {"RTT": "2100", "Downlink": "1.5"}, "160-lq", "slow-2g"),
    Network("save-data-4g", {"Save-Data": "on", "ECT": "4g"}, "640-lq", "4g", True),
    Network("save-data-no-network-hints", {"Save-Data": "on"}, "640-lq", "unknown", True),
    Network("save-data-2g", {"Save-Data": "on", "ECT": "2g"}, "320", "2g", True),
]


def browser_headers(browser: Browser) -> dict[str, str]:
    headers = {}
    if browser.user_agent is not None:
        headers["User-Agent"] = browser.user_agent
    if browser.accept is not None:
        headers["Accept"] = browser.accept
    return headers


def chrome(**extra: str) -> dict[str, str]:
    return {**browser_headers(BROWSERS[0]), **{k.replace("_", "-"): v for k, v in extra.items()}}


def stem(choice: Choice) -> str:
    return choice.variant.stem


# --- the browser x network table ----------------------------------------------------


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: n.id)
@pytest.mark.parametrize("browser", BROWSERS, ids=lambda b: b.id)
def test_browser_and_network_table(browser: Browser, network: Network) -> None:
    headers = {**browser_headers(browser), **LAYOUT_1280, **network.headers}
    choice = negotiate(headers, FULL)
    assert (choice.format, stem(choice), choice.network_class, choice.save_data) == (
        browser.format,
        network.stem,
        network.network_class,
        network.save_data,
    )
    assert choice.variant in FULL
    assert choice.cache_key() == f"{browser.format}.{network.stem}.{network.network_class}"


# --- format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/avif;q=0,image/webp,*/*", "webp"),
        ("image/avif;q=0, image/webp;q=0, */*", "jpg"),
        ("image/webp;q=0.9,image/avif;q=0.5", "webp"),
        ("image/avif;q=0.5, image/*", "jpg"),  # image/* means JPEG at q=1
        ("image/avif, image/webp, image/jpeg;q=0", "avif"),
        ("IMAGE/AVIF , Image/WebP", "avif"),
        ("*/*", "jpg"),
        ("image/*", "jpg"),
        ("image/webp", "webp"),
        ("text/html", "jpg"),  # nothing usable: JPEG is the baseline
        ("", "jpg"),
        ("image/avif;q=abc, image/webp", "webp"),  # malformed weight drops the entry
        ("image/avif;q=1.5, image/webp", "webp"),
        ("image/avif;v=b3;q=0.9, image/webp;q=0.8", "avif"),
        ("image/avif;q=0, image/avif, image/webp", "webp"),  # refused anywhere = refused
    ],
)
def test_accept_q_values(accept: str, expected: str) -> None:
    assert negotiate({"Accept": accept}, FULL).format == expected


def test_only_formats_the_image_has() -> None:
    no_avif = [v for v in FULL if v.format != "avif"]
    assert negotiate(chrome(), no_avif).format == "webp"
    only_jpg = [v for v in FULL if v.format == "jpg"]
    assert negotiate(chrome(), only_jpg).format == "jpg"
    only_webp = [v for v in FULL if v.format == "webp"]
    assert negotiate({"Accept": "*/*"}, only_webp).format == "webp"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/16.3.1 Safari/605.1.15",
            "webp",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_3_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/16.3 Mobile/15E148 Safari/604.1",
            "webp",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/16.2 Mobile/15E148 Safari/604.1",
            "webp",
        ),
        # Chrome on iOS uses the system WebKit: same decoder, same limitation.
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/108.0.5359.112 Mobile/15E148 Safari/604.1",
            "webp",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/16.4 Mobile/15E148 Safari/604.1",
            "avif",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Safari/605.1.15",
            "avif",
        ),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_10 like Mac OS X) Safari/604.1", "avif"),
    ],
)
def test_safari_16_0_to_16_3_gets_webp(user_agent: str, expected: str) -> None:
    headers = {"Accept": BROWSERS[6].accept or "", "User-Agent": user_agent}
    assert negotiate(headers, FULL).format == expected


def test_header_names_are_case_insensitive() -> None:
    mixed = {
        "ACCEPT": "image/webp,*/*",
        "sec-ch-dpr": "2",
        "SEC-CH-VIEWPORT-WIDTH": "300",
        "ect": "4G",
        "save-DATA": "On",
    }
    choice = negotiate(mixed, FULL)
    assert (choice.format, stem(choice), choice.network_class, choice.save_data) == (
        "webp",
        "320",
        "4g",
        True,
    )


# --- width ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device_px", "slot"),
    [
        (1, 320),
        (319, 320),
        (320, 320),
        (321, 640),
        (640, 640),
        (641, 1280),
        (1280, 1280),
        (1281, 1920),
        (1920, 1920),
        (5000, 1920),
    ],
)
def test_snaps_up_to_the_nearest_slot(device_px: int, slot: int) -> None:
    assert negotiate(chrome(Sec_CH_Width=str(device_px)), FULL).width == slot


@pytest.mark.parametrize("max_slot", SLOTS)
def test_never_beyond_the_largest_available_slot(max_slot: int) -> None:
    available = standard_set(max_slot)
    for device_px in range(1, 4001, 37):
        choice = negotiate(chrome(Sec_CH_Width=str(device_px)), available)
        assert choice.width <= max_slot
        assert choice.variant in available
        # Snapped up unless capped: the smallest available slot covering the need.
        covering = [s for s in SLOTS if max_slot >= s >= device_px]
        assert choice.width == (covering[0] if covering else max_slot)


def test_viewport_times_dpr() -> None:
    assert negotiate(chrome(Sec_CH_Viewport_Width="400", Sec_CH_DPR="1"), FULL).width == 640
    assert negotiate(chrome(Sec_CH_Viewport_Width="400", Sec_CH_DPR="1.5"), FULL).width == 640
    # 400 x 2 = 800 device px: at DPR 2 the 640 slot serves up to 864, the phone slot (AVIF
    # only) up to 972, and the closer fit wins.
    assert negotiate(chrome(Sec_CH_Viewport_Width="400", Sec_CH_DPR="2"), FULL).width == 720
    assert negotiate(chrome(Sec_CH_Viewport_Width="330", Sec_CH_DPR="2"), FULL).width == 640
    webp_only = chrome(Accept="image/webp,*/*", Sec_CH_Viewport_Width="400", Sec_CH_DPR="2")
    assert negotiate(webp_only, FULL).variant.name == "640.webp"
    assert negotiate(chrome(Sec_CH_Viewport_Width="500", Sec_CH_DPR="2"), FULL).width == 1280
    # Below DPR 2 a slot must cover the need: 500 x 1.5 = 750 -> 1280.
    assert negotiate(chrome(Sec_CH_Viewport_Width="500", Sec_CH_DPR="1.5"), FULL).width == 1280


def test_dpr_is_capped_at_2() -> None:
    # 700 CSS px x DPR 3 would be 2100 (-> 1920); capped, it is 1400 (-> 1280, which
    # serves up to 1728 at DPR 2).
    assert negotiate(chrome(Sec_CH_Viewport_Width="700", Sec_CH_DPR="3"), FULL).width == 1280
    assert negotiate(chrome(Sec_CH_Viewport_Width="700", Sec_CH_DPR="4"), FULL).width == 1280
    assert negotiate(chrome(Sec_CH_Viewport_Width="900", Sec_CH_DPR="2"), FULL).width == 1920
    # Sec-CH-Width includes the DPR: 2100 at DPR 3 is 1400 at DPR 2 (-> 1280, not 1920).
    assert negotiate(chrome(Sec_CH_Width="2100", Sec_CH_DPR="3"), FULL).width == 1280
    assert negotiate(chrome(Sec_CH_Width="2100", Sec_CH_DPR="2"), FULL).width == 1920


def test_sec_ch_width_beats_layout_width_beats_viewport() -> None:
    hints = chrome(Sec_CH_Width="300", Sec_CH_Viewport_Width="1000", Sec_CH_DPR="2")
    assert negotiate(hints, FULL, layout_width=600).width == 320
    hints = chrome(Sec_CH_Viewport_Width="1000", Sec_CH_DPR="2")
    assert negotiate(hints, FULL, layout_width=300).width == 640  # 300 x 2
    assert negotiate(hints, FULL).width == 1920  # 1000 x 2
    assert negotiate(chrome(), FULL, layout_width=300).width == 320  # DPR defaults to 1


def test_legacy_hint_names() -> None:
    assert negotiate(chrome(Width="600"), FULL).width == 640
    assert negotiate(chrome(Viewport_Width="500", DPR="2"), FULL).width == 1280
    # The Sec-CH- name wins over the legacy one.
    assert negotiate(chrome(Sec_CH_Width="300", Width="1900"), FULL).width == 320


def test_default_width_without_hints() -> None:
    assert negotiate(chrome(), FULL).width == 1280
    assert negotiate(chrome(Sec_CH_DPR="3"), FULL).width == 1280
    assert negotiate(chrome(), standard_set(640)).width == 640
    assert negotiate(chrome(), standard_set(320)).width == 320


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "",
        " ",
        "-1",
        "nan",
        "inf",
        "1e3",
        "1_000",
        "2,3",
        "0x10",
        "１２３",
        "\u0663\u0662\u0660",
        "1234567",
        "2.",
        "+2",
    ],
)
def test_malformed_hints_are_ignored(bad: str) -> None:
    # 400 CSS px at the default DPR 1 -> 640; any bad value taken as a number moves it.
    base = chrome(Sec_CH_Viewport_Width="400")
    bad_network = {"ECT": bad, "RTT": bad, "Downlink": bad, "Save-Data": bad}
    choice = negotiate(base | {"Sec-CH-DPR": bad, "DPR": bad} | bad_network, FULL)
    assert (choice.width, choice.network_class, choice.save_data) == (640, "unknown", False)
    assert negotiate(base | {"Sec-CH-Width": bad, "Width": bad}, FULL).width == 640
    assert negotiate({"Sec-CH-Viewport-Width": bad, "Viewport-Width": bad}, FULL).width == 1280


def test_zero_is_no_width_but_a_real_rtt_or_downlink() -> None:
    zero_width = chrome(Sec_CH_Width="0", Sec_CH_Viewport_Width="0", Sec_CH_DPR="0")
    assert negotiate(zero_width, FULL).width == 1280
    assert negotiate(chrome(RTT="0"), FULL).network_class == "4g"
    assert negotiate(chrome(Downlink="0"), FULL).network_class == "slow-2g"


def test_a_malformed_hint_falls_back_to_the_next_source() -> None:
    headers = chrome(Sec_CH_Width="wide", Sec_CH_Viewport_Width="300", Sec_CH_DPR="x")
    assert negotiate(headers, FULL).width == 320  # viewport x default DPR 1


# --- network class ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtt", "downlink", "expected"),
    [
        (None, None, "unknown"),
        ("2000", None, "slow-2g"),
        ("1999", None, "2g"),
        ("1400", None, "2g"),
        ("1399", None, "3g"),
        ("270", None, "3g"),
        ("269", None, "4g"),
        ("0", None, "4g"),
        (None, "0.05", "slow-2g"),
        (None, "0.06", "2g"),
        (None, "0.07", "2g"),
        (None, "0.7", "3g"),
        (None, "0.75", "4g"),
        ("100", "0.05", "slow-2g"),  # either threshold is enough
        ("1500", "10", "2g"),
        ("50", "10", "4g"),
    ],
)
def test_class_from_rtt_and_downlink(rtt: str | None, downlink: str | None, expected: str) -> None:
    headers = chrome()
    if rtt is not None:
        headers["RTT"] = rtt
    if downlink is not None:
        headers["Downlink"] = downlink
    assert negotiate(headers, FULL).network_class == expected


def test_ect_wins_over_rtt_and_downlink() -> None:
    assert negotiate(chrome(ECT="4g", RTT="3000", Downlink="0.01"), FULL).network_class == "4g"
    assert negotiate(chrome(ECT="2g", RTT="10", Downlink="50"), FULL).network_class == "2g"
    # An unknown ECT value is ignored, not trusted.
    assert negotiate(chrome(ECT="5g", RTT="300"), FULL).network_class == "3g"


@pytest.mark.parametrize(
    ("device_px", "ect", "expected"),
    [
        (1920, "3g", "1280"),
        (640, "3g", "320"),
        (320, "3g", "320"),  # 3g never reaches the lq tier
        (1920, "2g", "640-lq"),  # two slots down lands on 640: its weak rendition
        (640, "2g", "160-lq"),  # 2g reaches lq only when the layout is small
        (1280, "2g", "320"),
        (1920, "slow-2g", "320"),
        (1280, "slow-2g", "160-lq"),
    ],
)
def test_weak_networks_step_down(device_px: int, ect: str, expected: str) -> None:
    assert stem(negotiate(chrome(Sec_CH_Width=str(device_px), ECT=ect), FULL)) == expected


def test_step_down_stays_within_a_small_image() -> None:
    # An image whose largest slot is 640: 3g drops from 640 to 320, 2g to lq.
    small = standard_set(640)
    assert stem(negotiate(chrome(Sec_CH_Width="1900", ECT="3g"), small)) == "320"
    assert stem(negotiate(chrome(Sec_CH_Width="1900", ECT="2g"), small)) == "160-lq"


# --- Save-Data --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device_px", "expected"),
    [(1920, "1280"), (1280, "640-lq"), (640, "320"), (320, "160-lq"), (100, "160-lq")],
)
def test_save_data_takes_one_rung_below_the_layout(device_px: int, expected: str) -> None:
    headers = chrome(Sec_CH_Width=str(device_px), Save_Data="on")
    choice = negotiate(headers, FULL)
    assert (stem(choice), choice.save_data) == (expected, True)


def test_save_data_never_heavier_than_the_network_class() -> None:
    for ect in ("4g", "3g", "2g", "slow-2g"):
        plain = negotiate(chrome(Sec_CH_Width="1280", ECT=ect), FULL)
        saving = negotiate(chrome(Sec_CH_Width="1280", ECT=ect, Save_Data="on"), FULL)
        assert saving.width <= plain.width
        assert saving.width < 1280


def test_save_data_must_say_on() -> None:
    assert not negotiate(chrome(Save_Data="off"), FULL).save_data
    assert negotiate(chrome(Save_Data=" ON "), FULL).save_data


# --- byte budgets ------------------------------------------------------------------------


def with_bytes(sizes: dict[str, int], available: list[Variant] = FULL) -> list[Variant]:
    """``sizes`` by stem (same for every format)."""
    return [replace(v, bytes=sizes[v.stem]) for v in available if v.stem in sizes]


SIZES = {"160-lq": 4_000, "320": 15_000, "640": 60_000, "1280": 150_000, "1920": 400_000}


def test_known_bytes_replace_the_step_rule() -> None:
    headers = chrome(Sec_CH_Width="1280", ECT="3g")
    # Unknown sizes: one slot down (640, served as its 640-lq rendition). Known and within
    # the 3g budget: the full slot.
    assert stem(negotiate(headers, FULL)) == "640-lq"
    assert stem(negotiate(headers, with_bytes(SIZES))) == "1280"
    heavy = SIZES | {"1280": 400_000}
    # with_bytes keeps only the stems of SIZES: without a 640-lq, 640 itself.
    assert stem(negotiate(headers, with_bytes(heavy))) == "640"
    assert stem(negotiate(headers, with_bytes(heavy | {"640-lq": 30_000}))) == "640-lq"


def test_budget_on_2g_and_4g() -> None:
    # 2g budget (17.5 kB): 320 fits; when nothing fits, the lightest allowed rung.
    assert stem(negotiate(chrome(Sec_CH_Width="1280", ECT="2g"), with_bytes(SIZES))) == "320"
    tiny_budget = {k: v * 100 for k, v in SIZES.items()}
    lightest = negotiate(chrome(Sec_CH_Width="1280", ECT="2g"), with_bytes(tiny_budget))
    assert stem(lightest) == "160-lq"
    # 4g has no budget: sizes do not matter.
    assert stem(negotiate(chrome(Sec_CH_Width="1920", ECT="4g"), with_bytes(SIZES))) == "1920"


def test_partly_unknown_bytes_fall_back_to_slot_order() -> None:
    partial = [v if v.stem != "640" else replace(v, bytes=None) for v in with_bytes(SIZES)]
    assert stem(negotiate(chrome(Sec_CH_Width="1280", ECT="3g"), partial)) == "640"


# --- the weak-network rendition (640-lq) ---------------------------------------------------

WITHOUT_640_LQ = [v for v in FULL if v.stem != "640-lq"]
ONLY_JPG_640_LQ = [v for v in FULL if v.name not in {"640-lq.avif", "640-lq.webp"}]
# 640 fits the slow-2g budget (12.5 kB), 1280 does not.
SLOW_SIZES = {"160-lq": 2_000, "320": 5_000, "640": 12_000, "1280": 50_000, "1920": 90_000}


class Weak(NamedTuple):
    id: str
    hints: dict[str, str]  # on top of Chrome's User-Agent and Accept
    expected: str  # the variant name served
    network_class: str
    available: list[Variant] = FULL
    explicit: dict[str, str] | None = None


PHONE = {"Sec-CH-DPR": "2", "Sec-CH-Viewport-Width": "360"}  # 720 device px -> slot 1280
WEAK = [
    # Substituted: a weak class or Save-Data lands on 640, and the image has 640-lq.
    Weak("phone-ect-3g", PHONE | {"ECT": "3g"}, "640-lq.avif", "3g"),
    Weak("phone-rtt-3g", PHONE | {"RTT": "300"}, "640-lq.avif", "3g"),
    Weak("phone-downlink-3g", PHONE | {"Downlink": "0.5"}, "640-lq.avif", "3g"),
    Weak("1920-ect-2g", {"Sec-CH-Width": "1920", "ECT": "2g"}, "640-lq.avif", "2g"),
    Weak(
        "1280-slow-2g-known-bytes",
        {"Sec-CH-Width": "1280", "ECT": "slow-2g"},
        "640-lq.avif",
        "slow-2g",
        with_bytes(SLOW_SIZES | {"640-lq": 8_000}),
    ),
    Weak("phone-save-data", PHONE | {"Save-Data": "on"}, "640-lq.avif", "unknown"),
    Weak("phone-save-data-4g", PHONE | {"Save-Data": "on", "ECT": "4g"}, "640-lq.avif", "4g"),
    Weak("phone-3g-explicit-f", PHONE | {"ECT": "3g"}, "640-lq.jpg", "3g", FULL, {"f": "jpg"}),
    Weak(
        "phone-3g-only-jpg-lq",
        PHONE | {"ECT": "3g"},
        "640-lq.jpg",
        "3g",
        ONLY_JPG_640_LQ,
        {"f": "jpg"},
    ),
    # Not substituted: no 640-lq (in that format), an explicit w, 4g/unknown, or not 640.
    Weak("phone-3g-no-640-lq", PHONE | {"ECT": "3g"}, "640.avif", "3g", WITHOUT_640_LQ),
    Weak("phone-3g-640-lq-only-in-jpg", PHONE | {"ECT": "3g"}, "640.avif", "3g", ONLY_JPG_640_LQ),
    Weak(
        "phone-save-data-no-640-lq",
        PHONE | {"Save-Data": "on"},
        "640.avif",
        "unknown",
        WITHOUT_640_LQ,
    ),
    Weak(
        "slow-2g-known-bytes-no-640-lq",
        {"Sec-CH-Width": "1280", "ECT": "slow-2g"},
        "640.avif",
        "slow-2g",
        with_bytes(SLOW_SIZES),
    ),
    Weak("phone-3g-explicit-w-640", PHONE | {"ECT": "3g"}, "640.avif", "3g", FULL, {"w": "640"}),
    Weak("phone-3g-explicit-w-500", PHONE | {"ECT": "3g"}, "640.avif", "3g", FULL, {"w": "500"}),
    Weak(
        "save-data-2g-explicit-w",
        PHONE | {"ECT": "2g", "Save-Data": "on"},
        "640.webp",
        "2g",
        FULL,
        {"w": "640", "f": "webp"},
    ),
    Weak("640-ect-4g", {"Sec-CH-Width": "640", "ECT": "4g"}, "640.avif", "4g"),
    Weak("640-no-network-hints", {"Sec-CH-Width": "640"}, "640.avif", "unknown"),
    Weak("640-rtt-4g", {"Sec-CH-Width": "640", "RTT": "50"}, "640.avif", "4g"),
    Weak("1920-ect-3g", {"Sec-CH-Width": "1920", "ECT": "3g"}, "1280.avif", "3g"),
    Weak("640-ect-3g", {"Sec-CH-Width": "640", "ECT": "3g"}, "320.avif", "3g"),
    Weak("640-ect-2g", {"Sec-CH-Width": "640", "ECT": "2g"}, "160-lq.avif", "2g"),
]


@pytest.mark.parametrize("case", WEAK, ids=lambda c: c.id)
def test_weak_networks_and_save_data_get_the_640_lq_rendition(case: Weak) -> None:
    choice = negotiate(chrome() | case.hints, case.available, case.explicit)
    assert (choice.variant.name, choice.network_class) == (case.expected, case.network_class)
    assert choice.variant in case.available
    # The order of ``available`` does not matter (640-lq listed first is no lower rung).
    assert negotiate(chrome() | case.hints, case.available[::-1], case.explicit) == choice
    assert choice.cache_key() == (
        f"{choice.format}.{case.expected.rsplit('.', 1)[0]}.{case.network_class}"
    )


@pytest.mark.parametrize("max_slot", SLOTS)
@pytest.mark.parametrize(
    ("network", "weak"),
    [
        ({}, False),
        ({"ECT": "4g"}, False),
        ({"RTT": "50", "Downlink": "10"}, False),
        ({"ECT": "3g"}, True),
        ({"ECT": "2g"}, True),
        ({"ECT": "slow-2g"}, True),
        ({"Save-Data": "on"}, True),
        ({"Save-Data": "on", "ECT": "4g"}, True),
    ],
)
def test_640_lq_replaces_640_exactly_for_weak_networks_or_save_data(
    max_slot: int, network: dict[str, str], weak: bool
) -> None:
    available = standard_set(max_slot)
    served = set()
    for device_px in range(1, 4001, 37):
        headers = chrome(Sec_CH_Width=str(device_px)) | network
        served.add(negotiate(headers, available).variant.stem)
        # An explicit w always names a standard slot, whatever the network.
        explicit = negotiate(headers, available, {"w": str(device_px)})
        assert explicit.variant.tier == "standard"
    if weak:
        assert "640" not in served  # every 640 the ladder picks is served as 640-lq
    else:
        assert served <= {"320", "640", "1280", "1920"}  # 4g/unknown: never a low tier


# --- explicit choice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "slot"), [("1", 320), ("100", 320), ("320", 320), ("700", 1280), ("99999", 1920)]
)
def test_explicit_width_is_snapped_and_capped(w: str, slot: int) -> None:
    assert negotiate(chrome(), FULL, {"w": w}).width == slot
    assert negotiate(chrome(), standard_set(640), {"w": w}).width == min(slot, 640)


def test_explicit_width_overrides_hints_network_and_save_data() -> None:
    headers = chrome(Sec_CH_Width="300", ECT="slow-2g", Save_Data="on")
    choice = negotiate(headers, FULL, {"w": "1280"})
    assert (stem(choice), choice.network_class, choice.save_data) == ("1280", "slow-2g", True)


@pytest.mark.parametrize(
    ("f", "expected"), [("webp", "webp"), ("jpg", "jpg"), ("jpeg", "jpg"), ("JPEG", "jpg")]
)
def test_explicit_format(f: str, expected: str) -> None:
    assert negotiate(chrome(), FULL, {"f": f}).format == expected


def test_explicit_format_beats_accept_and_safari_rule() -> None:
    assert negotiate({"Accept": "*/*"}, FULL, {"f": "avif"}).format == "avif"
    safari_16 = browser_headers(BROWSERS[4])
    assert negotiate(safari_16, FULL, {"f": "avif"}).format == "avif"


def test_explicit_format_the_image_lacks_is_negotiated() -> None:
    no_avif = [v for v in FULL if v.format != "avif"]
    assert negotiate(chrome(), no_avif, {"f": "avif"}).format == "webp"
    assert negotiate({"Accept": "*/*"}, no_avif, {"f": "avif"}).format == "jpg"


@pytest.mark.parametrize("key", ["width", "q", "W", "format", ""])
def test_unknown_explicit_key_raises_naming_it(key: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(key))):
        negotiate(chrome(), FULL, {"w": "640", key: "1"})


@pytest.mark.parametrize("w", ["", "abc", "0", "-5", "1.5", "1e3", " 640", "١٢٣"])
def test_bad_explicit_width_raises(w: str) -> None:
    with pytest.raises(ValueError, match="'w'"):
        negotiate(chrome(), FULL, {"w": w})


@pytest.mark.parametrize("f", ["png", "", "gif", "image/webp"])
def test_bad_explicit_format_raises(f: str) -> None:
    with pytest.raises(ValueError, match="'f'"):
        negotiate(chrome(), FULL, {"f": f})


def test_no_available_variants_raises() -> None:
    with pytest.raises(ValueError, match="no variants"):
        negotiate(chrome(), [])


# --- cache key -----------------------------------------------------------------------------

# Different raw strings, same meaning: AVIF, WebP and JPEG all at q=1.
EQUIVALENT_ACCEPTS = [
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "image/webp,image/avif,image/*",
    "IMAGE/AVIF, IMAGE/WEBP, IMAGE/JPEG",
    "image/avif;q=1.0 , image/webp;q=1, image/jpeg ;q=1",
    "image/jpeg,image/webp,image/avif,text/html;q=0.1",
    "image/avif,image/webp,*/*",
    "  image/avif ,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
]


def test_equivalent_headers_give_the_same_cache_key() -> None:
    keys = {negotiate({"Accept": a, **LAYOUT_1280}, FULL).cache_key() for a in EQUIVALENT_ACCEPTS}
    assert keys == {"avif.1280.unknown"}
    # Hints that mean the same width/class collapse too.
    same_need = [
        {"Sec-CH-Width": "1100"},
        {"Width": "1250"},
        {"Sec-CH-Viewport-Width": "650", "Sec-CH-DPR": "3"},
        {"Sec-CH-Viewport-Width": "1000"},
        {"sec-ch-viewport-width": "700", "dpr": "1.75"},
    ]
    keys = {negotiate(chrome(ECT="4g") | h, FULL).cache_key() for h in same_need}
    assert keys == {"avif.1280.4g"}


def test_cache_key_set_stays_small() -> None:
    hint_sets = [
        {},
        {"Sec-CH-Width": "100"},
        {"Sec-CH-Width": "333"},
        {"Sec-CH-Width": "777"},
        {"Sec-CH-Width": "1500"},
        {"Sec-CH-Width": "4000"},
        {"Sec-CH-Viewport-Width": "375", "Sec-CH-DPR": "3"},
        {"Sec-CH-Viewport-Width": "1440", "Sec-CH-DPR": "2"},
        {"Sec-CH-Viewport-Width": "360", "Sec-CH-DPR": "2.625"},
    ]
    network_sets = [n.headers for n in NETWORKS] + [{"RTT": str(r)} for r in range(0, 3000, 75)]
    keys = set()
    inputs = 0
    for browser, hints, network in itertools.product(BROWSERS, hint_sets, network_sets):
        keys.add(negotiate(browser_headers(browser) | hints | network, FULL).cache_key())
        inputs += 1
    assert inputs > 5000
    assert all(
        re.fullmatch(
            r"(avif|webp|jpg)\.(160-lq|640-lq|320|640|1280|1920)\."
            r"(slow-2g|2g|3g|4g|unknown)|avif\.720\.(4g|unknown)",
            k,
        )
        for k in keys
    )
    # 640-lq is a sixth stem, and the phone slot 720 an AVIF one at full strength: the set
    # grows by two keys (avif.720.4g, avif.720.unknown), but stays fixed and small.
    assert any(".640-lq." in k for k in keys)
    assert {"avif.720.4g", "avif.720.unknown"} <= keys
    assert len(keys) <= len(FORMATS) * (len(SLOTS) + len(LQ_WIDTHS)) * 5 + 2
    assert len(keys) <= 75  # issue 16: the cache key's variety stays under 75 values


def test_choice_is_frozen_and_exposes_its_variant() -> None:
    choice = negotiate(chrome(Sec_CH_Width="640"), FULL)
    assert (choice.format, choice.width, choice.variant.name) == ("avif", 640, "640.avif")
    with pytest.raises(FrozenInstanceError):
        choice.save_data = True  # type: ignore[misc]


# --- the fixed variant set -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_slot", "low_stems", "slots"),
    [
        (320, ["160-lq"], [320]),  # 640-lq is wider than the image's largest slot
        (640, ["160-lq"], [320, 640]),  # a 640-wide image's 3g choice is 320: no 640-lq
        (1280, ["160-lq", "640-lq"], [320, 640, 720, 1280]),
        (1920, ["160-lq", "640-lq"], [320, 640, 720, 1280, 1920]),
    ],
)
def test_standard_set_is_the_low_tiers_plus_a_prefix_of_the_slots(
    max_slot: int, low_stems: list[str], slots: list[int]
) -> None:
    available = standard_set(max_slot)
    # Low tiers first, then the slots smallest to largest, each in FORMATS order; the phone
    # slot 720 (from max slot 1280 up, like 640-lq) in AVIF only.
    expected = [f"{s}.{f}" for s in low_stems for f in FORMATS]
    expected += [
        f"{slot}.{f}" for slot in slots for f in (PHONE_FORMATS if slot == 720 else FORMATS)
    ]
    assert [v.name for v in available] == expected
    assert all(v.tier == "low" for v in available[: len(low_stems) * len(FORMATS)])
    assert all(v.width <= max_slot for v in available)
    assert all(v.bytes is None for v in available)
    assert all(parse_name(v.name) == v for v in available)


@pytest.mark.parametrize("max_slot", [0, 160, 1000, 2560, -320])
def test_standard_set_rejects_a_max_slot_outside_the_set(max_slot: int) -> None:
    with pytest.raises(ValueError, match="max_slot"):
        standard_set(max_slot)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("640.webp", Variant("640.webp", "webp", 640, "standard")),
        ("1920.avif", Variant("1920.avif", "avif", 1920, "standard")),
        ("160-lq.jpg", Variant("160-lq.jpg", "jpg", 160, "low")),
        ("640-lq.avif", Variant("640-lq.avif", "avif", 640, "low")),
        ("640-lq.jpg", Variant("640-lq.jpg", "jpg", 640, "low")),
        ("641.webp", None),
        ("640.png", None),
        ("640.jpeg", None),
        ("160.jpg", None),
        ("320-lq.jpg", None),
        ("1280-lq.webp", None),
        ("640-lq.jpeg", None),
        ("0640.webp", None),
        ("640.WEBP", None),
        ("640.webp/", None),
        ("../640.webp", None),
        ("", None),
    ],
)
def test_parse_name(name: str, expected: Variant | None) -> None:
    assert parse_name(name) == expected


def test_every_name_round_trips_and_has_a_content_type() -> None:
    names = all_names()
    assert len(names) == len(FORMATS) * (len(SLOTS) + len(LQ_WIDTHS)) + len(PHONE_FORMATS)
    # Low tiers first (160-lq, then 640-lq), then the slots smallest to largest, 720.avif
    # (the phone slot) between 640 and 1280.
    lows = [f"{w}-lq.{f}" for w in (LQ_WIDTH, 640) for f in FORMATS]
    assert list(names[: len(lows)]) == lows
    slots = sorted([*SLOTS, PHONE_SLOT])
    assert list(names[len(lows) :]) == [
        f"{s}.{f}" for s in slots for f in (PHONE_FORMATS if s == PHONE_SLOT else FORMATS)
    ]
    assert parse_name("720.avif") == Variant("720.avif", "avif", 720, "phone")
    assert parse_name("720.webp") is None and parse_name("720.jpg") is None
    for name in names:
        variant = parse_name(name)
        assert variant is not None
        assert variant.name == name
        assert variant.content_type == CONTENT_TYPES[variant.format]
        assert variant.key("abc") == f"abc/{name}"
    assert CONTENT_TYPES["jpg"] == "image/jpeg"


# --- edge/ is standard library only --------------------------------------------------------


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports"
            roots.add((node.module or "").split(".")[0])
    return roots


def test_edge_imports_only_the_standard_library() -> None:
    files = sorted(EDGE_DIR.glob("*.py"))
    assert {f.name for f in files} >= {
        "__init__.py",
        "variants.py",
        "negotiate.py",
        "viewer_request.py",
        "origin_response.py",
    }
    for path in files:
        outside = {r for r in imported_roots(path) if r not in sys.stdlib_module_names}
        assert outside <= {"edge"}, f"{path.name} imports {outside}"


def test_the_import_check_would_catch_a_third_party_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import boto3\nfrom app.settings import X\nfrom edge import variants\n")
    assert imported_roots(bad) - set(sys.stdlib_module_names) == {"boto3", "app", "edge"}
