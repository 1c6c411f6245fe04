"""Instants as the API, the manifests and upload policies write them: ISO 8601 in UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal


def iso_utc(epoch: float, timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    """``2026-11-29T16:18:00Z`` (or ``...:00.000Z``); S3 POST policies take either form."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
