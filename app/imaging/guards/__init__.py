"""Checks that need more than the first bytes: a bounded walk of the container's structure.

Each walker (one module per container format) reads marker segments, chunks, blocks, boxes or
directories, never pixels, and stops at the first verdict. Together they refuse, before any
decoder runs:

- sizes declared anywhere in the container (GIF frames that reach outside the screen, WebP
  animation frames, TIFF pages, AVIF/HEIF `ispe` properties), not only the one Pillow reports;
- frame-count bombs, counted with an early stop (Pillow's own count walks every frame in Python);
- progressive-JPEG scan bombs: every scan makes libjpeg pass over every block again;
- zlib and text-chunk bombs: compressed PNG text and ICC chunks are inflated against a budget;
- huge EXIF and metadata, and files made of millions of tiny chunks;
- palette tricks: palettes of the wrong length, in the wrong place or missing;
- truncation: a segment, chunk, box, directory or strip that runs past the end of the file.

The walkers work on `bytes` or an `mmap` of the file, so a 50 MB upload costs no copy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from app.imaging import formats
from app.imaging.formats import Format
from app.imaging.guards import gif, isobmff, jpeg, png, tiff, webp
from app.imaging.guards.png import PNG_TEXT_CHUNK_LIMIT
from app.imaging.guards.structure import Data, Structure, corrupt, truncated
from app.imaging.limits import Limits

__all__ = ["PNG_TEXT_CHUNK_LIMIT", "Data", "Structure", "corrupt", "inspect", "truncated"]

Walker = Callable[[Data, Limits], Structure]

WALKERS: dict[str, Walker] = {
    formats.JPEG.name: jpeg.walk,
    formats.PNG.name: png.walk,
    formats.GIF.name: gif.walk,
    formats.WEBP.name: webp.walk,
    formats.TIFF.name: tiff.walk,
    formats.AVIF.name: isobmff.walk,
    formats.HEIF.name: isobmff.walk,
}


def inspect(data: Data, fmt: Format, limits: Limits) -> Structure:
    """Walk the structure of an allow-listed file; raise ImageRejected at the first problem."""
    walker = WALKERS[fmt.name]
    try:
        return walker(data, limits)
    except (struct.error, IndexError) as exc:
        # A field read past the end of its box or of the file: malformed in a way no walker
        # names (every walker checks the lengths it relies on; this is the net under them).
        raise corrupt(f"the {fmt.name.upper()} structure is malformed ({exc})") from None
