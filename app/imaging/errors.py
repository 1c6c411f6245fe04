"""Why an image was refused: a stable code for the catalog and a sentence for people."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_FRAMES = "too_many_frames"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    DECODE_TIMEOUT = "decode_timeout"
    MEMORY_LIMIT = "memory_limit"


class ImageRejected(Exception):
    """The input cannot become variants; retrying will not help."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
