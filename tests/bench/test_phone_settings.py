"""The phone-settings benchmark's hindsight choice, on made-up results."""

from __future__ import annotations

import pytest

from bench.phone_settings import Encoded, Photo, aimed, hindsight, report


def photo(
    name: str, fixed_ssim: float, options: dict[float, tuple[int, float]], preset: int = 5
) -> Photo:
    encodes = {
        (preset, crf): Encoded(size, score, 0.2, frame_ssim=score + 0.001)
        for crf, (size, score) in options.items()
    }
    return Photo(name, 1000, fixed_ssim, encodes)


def test_hindsight_spends_the_bytes_where_they_buy_the_most_ssim() -> None:
    # The smooth photo is cheap to lift; the textured one is not. Both at their middle CRF
    # reach the target at 1,200 bytes; lifting the smooth one alone costs 1,150.
    smooth = photo("smooth", 0.97, {30: (300, 0.960), 28: (350, 0.990), 26: (600, 0.995)})
    textured = photo("textured", 0.97, {30: (800, 0.951), 28: (850, 0.960), 26: (1500, 0.985)})
    share, score = hindsight([smooth, textured], 5) or (0.0, 0.0)
    assert share == pytest.approx((350 + 800) / 2000)
    assert score == pytest.approx((0.990 + 0.951) / 2)


def test_hindsight_finds_combinations_a_price_per_byte_cannot_reach() -> None:
    # The reviewer's case: 900 bytes reach the target; a Lagrangian sweep stops at 1,100.
    first = photo("first", 0.97, {30: (300, 0.947), 28: (350, 0.977), 26: (450, 0.982)})
    second = photo("second", 0.97, {30: (400, 0.957), 28: (450, 0.962), 26: (750, 0.982)})
    share, score = hindsight([first, second], 5) or (0.0, 0.0)
    assert share == pytest.approx(900 / 2000)
    assert score == pytest.approx((0.982 + 0.962) / 2)


def test_hindsight_is_none_when_no_choice_reaches_the_fixed_policys_ssim() -> None:
    blurry = photo("blurry", 0.99, {30: (300, 0.95), 28: (400, 0.96)})
    assert hindsight([blurry], 5) is None
    assert "- preset 5, each photo's own CRF with hindsight: never" in report([blurry], "made up")


def test_the_aimed_rule_takes_each_photos_highest_crf_that_reaches_the_target() -> None:
    # Judged on the SSIM against its own frame (score + 0.001 here), not the reference's.
    smooth = photo("smooth", 0.97, {30: (300, 0.960), 28: (350, 0.990)}, preset=4)
    textured = photo("textured", 0.97, {30: (800, 0.951), 28: (850, 0.960)}, preset=4)
    share, score = aimed([smooth, textured], 4, 0.9605)
    # smooth: CRF 30 reaches 0.9605; textured never does, so it gets its lowest CRF.
    assert share == pytest.approx((300 + 850) / 2000)
    assert score == pytest.approx((0.960 + 0.960) / 2)
