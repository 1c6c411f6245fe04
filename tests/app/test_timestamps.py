"""The one ISO 8601 writer: UTC, a Z, and the precision each caller asks for."""

from __future__ import annotations

from datetime import datetime

from app.timestamps import iso_utc

INSTANT = 1_795_969_080.123456  # 2026-11-29T16:18:00.123456Z


def test_seconds_by_default_as_s3_post_policies_and_manifests_write_them() -> None:
    assert iso_utc(INSTANT) == "2026-11-29T16:18:00Z"
    assert iso_utc(int(INSTANT)) == "2026-11-29T16:18:00Z"


def test_milliseconds_for_the_api() -> None:
    assert iso_utc(INSTANT, "milliseconds") == "2026-11-29T16:18:00.123Z"


def test_it_reads_back_to_the_same_instant() -> None:
    assert datetime.fromisoformat(iso_utc(INSTANT)).timestamp() == int(INSTANT)
