"""Limits applied before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1000 * 1000
    max_pixels: int = 50_000_000  # per frame
    max_total_pixels: int = 200_000_000  # width x height x frames
    max_frames: int = 10_000
