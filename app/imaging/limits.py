"""Limits applied before any pixel is decoded, and the budget of the decode itself.

The defaults are generous for real photos (a progressive JPEG has about 10 scans, a camera's EXIF
block is under 64 KB) and stop the files that are built to exhaust a decoder. docs/robustness.md
gives the reason for each number and what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.imaging.errors import ImageRejected, Reason

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1000 * 1000
    max_pixels: int = 50_000_000  # per frame
    max_total_pixels: int = 200_000_000  # width x height x frames
    max_frames: int = 1_000
    max_scans: int = 100  # JPEG scans: 1 for baseline, about 10 for progressive
    max_metadata_bytes: int = 8 * MiB  # EXIF, XMP, ICC, comments and text chunks, once inflated
    max_exif_bytes: int = 1 * MiB
    max_metadata_segments: int = 1_000  # APPn/COM segments, text chunks, extension blocks
    max_chunks: int = 100_000  # every segment, chunk, block, box or directory walked
    decode_seconds: float = 30.0  # wall clock for probe + decode + the master resize
    decode_memory_bytes: int = 1024 * MiB  # address space the decoder may add

    def check_frame(self, width: int, height: int) -> None:
        """One frame's declared size against the per-frame limit."""
        if width <= 0 or height <= 0:
            raise ImageRejected(Reason.CORRUPT, f"the header declares {width}x{height} pixels")
        pixels = width * height
        if pixels > self.max_pixels:
            raise ImageRejected(
                Reason.TOO_MANY_PIXELS,
                f"{width}x{height} is {pixels / 1e6:.1f} MP, over the limit of "
                f"{self.max_pixels / 1e6:g} MP per frame",
            )

    def check_total(self, pixels: int, frames: int) -> None:
        if frames > self.max_frames:
            raise ImageRejected(
                Reason.TOO_MANY_FRAMES,
                f"more than {self.max_frames} frames (the limit)",
            )
        if pixels > self.max_total_pixels:
            raise ImageRejected(
                Reason.TOO_MANY_PIXELS,
                f"{frames} frames add up to {pixels / 1e6:.0f} MP, over the limit of "
                f"{self.max_total_pixels / 1e6:g} MP across all frames",
            )
