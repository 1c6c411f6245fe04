"""Why an image was refused: a stable code for the catalog and a sentence for people."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_FRAMES = "too_many_frames"
    TOO_MANY_SCANS = "too_many_scans"  # a progressive-JPEG scan bomb
    METADATA_TOO_LARGE = "metadata_too_large"  # text, EXIF or ICC bombs, or too many chunks
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    DECODE_TIMEOUT = "decode_timeout"
    MEMORY_LIMIT = "memory_limit"
    DECODER_CRASH = "decoder_crash"  # the sandboxed decoder died on a signal
    WORKER_LOST = "worker_lost"  # a worker process died on this image every time it was tried


class ImageRejected(Exception):
    """The input cannot become variants; retrying will not help."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ImageRejected], tuple[Reason, str]]:
        # Crosses the sandbox's pipe intact (the default would replay only the message).
        return (type(self), (self.reason, self.detail))
