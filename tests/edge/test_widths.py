"""edge.widths: the DPR cap, nearest-slot serving at high density, and the manifest's sizes
that make a browser pick what the edge picks. Phones and desktops as they send their hints."""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest

from edge.negotiate import negotiate
from edge.variants import PHONE, PHONE_SLOT, SLOTS, standard_set
from edge.widths import (
    DPR_CAP,
    HIGH_DPR_TOLERANCE,
    device_pixel_ratio,
    needed_width,
    pick_slot,
    serves,
    suggested_sizes,
)
from tests.edge.test_negotiate import (
    BROWSERS,
    FULL,
    NETWORKS,
    Browser,
    Network,
    browser_headers,
)

CHROME_ANDROID = {
    "User-Agent": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/136.0.0.0 Mobile Safari/537.36",
    "Accept": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
}


class Screen(NamedTuple):
    id: str
    css_width: int  # Sec-CH-Viewport-Width
    dpr: str  # Sec-CH-DPR, as sent


# Common phones (CSS viewport width, DPR) and desktops.
PHONES = [
    Screen("galaxy-a-360x2", 360, "2"),
    Screen("galaxy-s-360x3", 360, "3"),
    Screen("iphone-se-375x2", 375, "2"),
    Screen("iphone-14-390x3", 390, "3"),
    Screen("pixel-7-412x2.625", 412, "2.625"),
    Screen("iphone-xr-414x2", 414, "2"),
    Screen("iphone-pro-max-430x3", 430, "3"),
]
DESKTOPS = [
    Screen("desktop-1280x1", 1280, "1"),
    Screen("desktop-1920x1", 1920, "1"),
    Screen("laptop-1280x2", 1280, "2"),
    Screen("desktop-1920x2", 1920, "2"),
]


def hints(screen: Screen) -> dict[str, str]:
    return {"Sec-CH-Viewport-Width": str(screen.css_width), "Sec-CH-DPR": screen.dpr}


def old_rule(needed: float, available_max: int = 1920) -> int:
    """Today's rule before this change: DPR capped at 3, then snapped UP to a slot."""
    return next((s for s in SLOTS if s >= needed and s <= available_max), available_max)


# What each phone gets per network (rows of test_negotiate.NETWORKS): the phone slot 720
# (AVIF) at full strength, today's weak-network ladder (from the covering 1280 slot) otherwise.
PHONE_STEMS = {
    "no-network-hints": "720",
    "ect-4g": "720",
    "rtt-downlink-fast": "720",
    "ect-3g": "640-lq",
    "rtt-300": "640-lq",
    "ect-2g": "320",
    "downlink-0.06": "320",
    "ect-slow-2g": "160-lq",
    "rtt-2100": "160-lq",
    "save-data-4g": "640-lq",
    "save-data-no-network-hints": "640-lq",
    "save-data-2g": "320",
}


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: n.id)
@pytest.mark.parametrize("phone", PHONES, ids=lambda p: p.id)
def test_every_common_phone_on_every_network(phone: Screen, network: Network) -> None:
    choice = negotiate(CHROME_ANDROID | hints(phone) | network.headers, FULL)
    assert choice.variant.stem == PHONE_STEMS[network.id]
    assert choice.format == "avif"
    assert choice.network_class == network.network_class
    # Without AVIF (or for an image made before the phone slot) it is 640, as before.
    webp = negotiate(
        CHROME_ANDROID | {"Accept": "image/webp,*/*"} | hints(phone) | network.headers, FULL
    )
    assert webp.variant.stem == PHONE_STEMS[network.id].replace("720", "640")
    older = [v for v in FULL if v.tier != PHONE]
    assert negotiate(CHROME_ANDROID | hints(phone) | network.headers, older).variant.stem == (
        PHONE_STEMS[network.id].replace("720", "640")
    )


@pytest.mark.parametrize("browser", BROWSERS, ids=lambda b: b.id)
@pytest.mark.parametrize(
    ("desktop", "slot"),
    [(DESKTOPS[0], 1280), (DESKTOPS[1], 1920), (DESKTOPS[2], 1920), (DESKTOPS[3], 1920)],
    ids=lambda d: d.id if isinstance(d, Screen) else str(d),
)
def test_desktops_without_network_hints_get_what_they_got_before(
    browser: Browser, desktop: Screen, slot: int
) -> None:
    choice = negotiate(browser_headers(browser) | hints(desktop), FULL)
    assert (choice.width, choice.format) == (slot, browser.format)
    assert choice.width == old_rule(desktop.css_width * min(float(desktop.dpr), 3.0))


@pytest.mark.parametrize("dpr", ["1", "1.25", "1.5", "1.99", "2", "2.625", "3", "4"])
@pytest.mark.parametrize("max_slot", SLOTS)
def test_never_more_pixels_than_before_and_never_too_few(dpr: str, max_slot: int) -> None:
    available = standard_set(max_slot)
    capped = min(float(dpr), DPR_CAP)
    # The phone slot (720.avif) is a candidate at DPR >= 2, for images from slot 1280 up.
    slots = sorted([*SLOTS, PHONE_SLOT]) if capped >= 2 and max_slot >= 1280 else list(SLOTS)
    for css in range(50, 2400, 23):
        headers = CHROME_ANDROID | {"Sec-CH-Viewport-Width": str(css), "Sec-CH-DPR": dpr}
        width = negotiate(headers, available).width
        need = css * capped
        assert width <= old_rule(css * min(float(dpr), 3.0), max_slot)  # no more bytes
        if width < max_slot:  # not capped by the image: the slot serves the need
            limit = 1 + (HIGH_DPR_TOLERANCE if capped >= 2 else 0)
            assert width * limit >= need
            # ...and it is the closest that does: no slot between it and the need, and no
            # narrower slot serving when it is wider than the need.
            assert not [s for s in slots if min(width, need) < s < max(width, need)]
            smaller = [s for s in slots if s < width]
            assert width <= need or not smaller or smaller[-1] * limit < need
        if capped < 2:
            assert width == old_rule(need, max_slot)  # desktops: exactly as before


def test_dpr_and_needed_width_from_hints() -> None:
    assert device_pixel_ratio({}) == 1.0
    assert device_pixel_ratio({"sec-ch-dpr": "2.625"}) == 2.0
    assert device_pixel_ratio({"dpr": "1.5"}) == 1.5
    assert device_pixel_ratio({"sec-ch-dpr": "x", "dpr": "3"}) == 2.0
    assert needed_width({"sec-ch-viewport-width": "390", "sec-ch-dpr": "3"}) == 780
    assert needed_width({"sec-ch-width": "1170", "sec-ch-dpr": "3"}) == 780
    assert needed_width({"sec-ch-width": "500"}) == 500
    assert needed_width({"sec-ch-dpr": "2"}, layout_width=300) == 600
    assert needed_width({"sec-ch-dpr": "2"}) is None


@pytest.mark.parametrize(
    ("needed", "dpr", "slot"),
    [
        (640, 1.0, 640),
        (641, 1.0, 1280),
        (641, 1.99, 1280),
        (720, 2.0, 640),
        (864, 2.0, 640),
        (865, 2.0, 1280),
        (1728, 2.0, 1280),
        (1729, 2.0, 1920),
        (432, 2.0, 320),
        (5000, 2.0, 1920),
        (1, 1.0, 320),
    ],
)
def test_pick_slot(needed: float, dpr: float, slot: int) -> None:
    assert SLOTS[pick_slot(list(SLOTS), needed, dpr)] == slot
    assert serves(slot, needed, dpr) or slot == SLOTS[-1]


PHONE_SLOTS = [320, 640, PHONE_SLOT, 1280, 1920]


@pytest.mark.parametrize(
    ("needed", "dpr", "slot"),
    [
        (720, 2.0, 720),  # the 360 px phone: 640 serves it too, 720 is the closer fit
        (719, 2.0, 640),
        (860, 2.0, 720),  # 430 CSS px at DPR 3, capped
        (972, 2.0, 720),  # 720 x 1.35
        (973, 2.0, 1280),
        (700, 1.0, 720),  # (negotiate offers the phone slot at DPR >= 2 only)
        (721, 1.0, 1280),
    ],
)
def test_pick_slot_with_the_phone_slot(needed: float, dpr: float, slot: int) -> None:
    assert PHONE_SLOTS[pick_slot(PHONE_SLOTS, needed, dpr)] == slot


def browser_pick(sizes: str, viewport: int, dpr: float, candidates: list[int]) -> int:
    """What a browser does with ``sizes`` and ``w`` descriptors: the first entry whose media
    condition matches gives the size; the smallest candidate >= size x DPR, else the largest."""
    size: float | None = None
    for entry in sizes.split(", "):
        band = re.match(r"\(min-resolution: ([0-9.]+)dppx\) and \(max-width: (\d+)px\) ", entry)
        if band:
            if dpr >= float(band[1]) and viewport <= int(band[2]):
                factor = re.search(r"calc\(100vw \* ([0-9.]+)\)", entry)
                assert factor is not None
                size = viewport * float(factor[1])
                break
            continue
        wide = re.fullmatch(r"\(min-width: (\d+)px\) (\d+)px", entry)
        if wide:
            if viewport >= int(wide[1]):
                size = float(wide[2])
                break
            continue
        assert entry == "100vw"
        size = float(viewport)
        break
    assert size is not None
    return next((c for c in candidates if c >= size * dpr), candidates[-1])


@pytest.mark.parametrize("dpr", [1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("image_width", [1000, 1920])
def test_manifest_sizes_make_a_browser_pick_what_the_edge_picks(
    dpr: float, image_width: int
) -> None:
    sizes = suggested_sizes(image_width)
    # The image's srcset: the slots it has, the last at the image's real width.
    candidates = [min(s, image_width) for s in SLOTS if s < image_width] + [image_width]
    candidates = sorted(set(candidates))
    for viewport in range(200, image_width + 1, 7):
        headers = {"Sec-CH-Viewport-Width": str(viewport), "Sec-CH-DPR": f"{dpr:g}"}
        stored = [s for s in SLOTS if s <= 1280 or image_width > 1280]
        # From the srcset's candidates: the phone slot is not in it (the edge's choice only).
        listed = [v for v in standard_set(stored[-1]) if v.tier != PHONE]
        edge = negotiate(CHROME_ANDROID | headers, listed).width
        assert browser_pick(sizes, viewport, dpr, candidates) == min(edge, image_width)


def test_suggested_sizes_text() -> None:
    assert suggested_sizes(1000) == (
        "(min-resolution: 3dppx) and (max-width: 1000px) calc(100vw * 0.4938), "
        "(min-resolution: 2.5dppx) and (max-width: 1000px) calc(100vw * 0.5925), "
        "(min-resolution: 2dppx) and (max-width: 1000px) calc(100vw * 0.7407), "
        "(min-width: 1000px) 1000px, 100vw"
    )
