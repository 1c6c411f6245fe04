"""The benchmark's baselines use the encoder settings before issue 12, whatever the defaults."""

from __future__ import annotations

from app.imaging.encode import EncodeSettings, Quality
from bench.pipeline import ENGINES, FIXTURE, RUNNERS, today_settings


def test_the_baseline_settings_are_the_ones_before_issue_12() -> None:
    before = today_settings()
    assert before.avif_codec == "aom" and before.aom_speed == 8
    assert before.webp_method == 4
    assert before.standard == Quality(jpg=90, webp=85, avif=72)
    # Only the encoder settings differ from today's defaults (the tiers and widths do not).
    now = EncodeSettings()
    assert (before.low, before.weak, before.background) == (now.low, now.weak, now.background)


def test_the_decode_once_baseline_is_run_and_the_strawman_is_labelled() -> None:
    assert {"ours", "ours-today", "naive-once", "naive-per-variant"} <= set(ENGINES)
    assert set(ENGINES) <= set(RUNNERS)
    assert "naive" not in ENGINES  # the old unlabelled row


def test_without_the_phone_slot_every_engine_makes_the_18_variants_of_issue_12() -> None:
    from app.imaging.plan import PHONE_TIER
    from bench import pipeline

    assert "720.avif" in {s.name for s in pipeline.planned(4000)}
    try:
        pipeline._worker_init(frozenset({PHONE_TIER}))  # as each spawned worker is set up
        names = [s.name for s in pipeline.planned(4000)]
        naive = pipeline.run_naive_once(FIXTURE)
    finally:
        pipeline._left_out_tiers.clear()
    assert len(names) == 18 and "720.avif" not in names
    assert {o.name for o in naive.outputs} == set(names)
