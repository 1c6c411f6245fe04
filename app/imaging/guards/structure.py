"""What a walk finds, and the budgets every walker counts chunks, metadata and frames against."""

from __future__ import annotations

import mmap
from dataclasses import dataclass

from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits

Data = bytes | mmap.mmap


@dataclass(frozen=True)
class Structure:
    """What the walk found; None where this format's walker leaves the question to Pillow."""

    frames: int | None = None
    scans: int = 0
    metadata_bytes: int = 0
    chunks: int = 0


def truncated(what: str) -> ImageRejected:
    return ImageRejected(Reason.TRUNCATED, what)


def corrupt(what: str) -> ImageRejected:
    return ImageRejected(Reason.CORRUPT, what)


class Budget:
    """Counts chunks, metadata segments and metadata bytes against the limits."""

    def __init__(self, limits: Limits, kind: str) -> None:
        self.limits = limits
        self.kind = kind
        self.chunks = 0
        self.segments = 0
        self.metadata = 0
        self.sub_blocks = 0
        self.entries = 0

    def chunk(self) -> None:
        self.chunks += 1
        if self.chunks > self.limits.max_chunks:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"more than {self.limits.max_chunks} {self.kind} in the file",
            )

    def meta(self, size: int, what: str, *, segment: bool = True) -> None:
        self.segments += segment
        self.metadata += size
        if self.segments > self.limits.max_metadata_segments:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"more than {self.limits.max_metadata_segments} metadata {self.kind}",
            )
        if self.metadata > self.limits.max_metadata_bytes:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"{what} brings the metadata to {self.metadata} bytes, over the limit of "
                f"{self.limits.max_metadata_bytes}",
            )

    def exif(self, size: int) -> None:
        if size > self.limits.max_exif_bytes:
            raise ImageRejected(
                Reason.METADATA_TOO_LARGE,
                f"an EXIF block of {size} bytes is over the limit of {self.limits.max_exif_bytes}",
            )
        self.meta(size, "the EXIF block")

    def structure(self, frames: int | None = None, scans: int = 0) -> Structure:
        return Structure(frames, scans, self.metadata, self.chunks)


class Frames:
    """Frames and their pixels, checked as they are counted so a bomb stops the walk early."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.count = 0
        self.pixels = 0

    def add(self, width: int, height: int) -> None:
        self.limits.check_frame(width, height)
        self.count += 1
        self.pixels += width * height
        self.limits.check_total(self.pixels, self.count)


def chunk_name(kind: bytes) -> str:
    """A four-character chunk or box type, printable whatever its bytes."""
    return kind.decode("latin-1")
