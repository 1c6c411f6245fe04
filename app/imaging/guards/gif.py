"""GIF: blocks and sub-blocks, frames grown to the logical screen as Pillow grows them."""

from __future__ import annotations

import struct

from app.imaging.guards.structure import Budget, Data, Frames, Structure, corrupt, truncated
from app.imaging.limits import Limits


def walk(data: Data, limits: Limits) -> Structure:
    if len(data) < 13:
        raise truncated("the GIF ends inside its header")
    gif = _Gif(data, limits)
    gif.walk()
    return gif.budget.structure(frames=gif.frames.count)


class _Gif:
    def __init__(self, data: Data, limits: Limits) -> None:
        self.data = data
        self.budget = Budget(limits, "blocks")
        self.frames = Frames(limits)
        width, height, flags = struct.unpack_from("<HHB", data, 6)
        limits.check_frame(width, height)
        self.canvas = (width, height)
        self.pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)

    def walk(self) -> None:
        data, size = self.data, len(self.data)
        while self.pos < size and data[self.pos] != 0x3B:  # 0x3B: the trailer
            self.budget.chunk()
            block = data[self.pos]
            if block == 0x21:
                done = self.extension()
            elif block == 0x2C:
                done = self.frame()
            elif self.frames.count:
                done = True  # junk after the last frame: decoders stop here too
            else:
                raise corrupt(f"unknown GIF block 0x{block:02X} before the first frame")
            if done:
                break
        if self.frames.count == 0:
            raise truncated("the GIF has no complete frame")

    def extension(self) -> bool:
        """Skip one extension; True when the file ends inside it."""
        start = self.pos
        label = self.data[start + 1] if start + 1 < len(self.data) else 0
        end = _sub_blocks(self.data, start + 2, self.budget)
        if end < 0:
            if self.frames.count == 0:
                raise truncated("the GIF ends inside an extension before its first frame")
            return True
        if label in (0xFE, 0xFF):  # comments and application data (XMP lives there)
            self.budget.meta(end - start, "a GIF comment or application block")
        self.pos = end
        return False

    def frame(self) -> bool:
        """Check and skip one frame; True when the file ends inside it."""
        if self.pos + 10 > len(self.data):
            if self.frames.count == 0:
                raise truncated("the GIF ends inside its first frame's header")
            return True
        left, top, width, height, flags = struct.unpack_from("<HHHHB", self.data, self.pos + 1)
        # Pillow grows the image to cover a frame that reaches outside the logical screen.
        self.canvas = (max(self.canvas[0], left + width), max(self.canvas[1], top + height))
        self.frames.add(*self.canvas)
        pos = self.pos + 10
        if flags & 0x80:
            pos += 3 << ((flags & 7) + 1)
        end = _sub_blocks(self.data, pos + 1, self.budget)
        if end < 0:
            if self.frames.count == 1:
                raise truncated("the GIF ends inside its first frame")
            self.frames.count -= 1
            return True
        self.pos = end
        return False


def _sub_blocks(data: Data, pos: int, budget: Budget) -> int:
    """Position after a chain of sub-blocks, or -1 when the file ends inside it.

    Encoders write 255-byte sub-blocks, so a 50 MB GIF has about 200,000 of them; a file made of
    1-byte sub-blocks to keep this loop busy is refused after ten times the chunk limit.
    """
    size = len(data)
    cap = budget.limits.max_chunks * 10
    while pos < size:
        length = data[pos]
        if length == 0:
            return pos + 1
        pos += length + 1
        budget.sub_blocks += 1
        if budget.sub_blocks > cap:
            raise corrupt(f"the GIF is cut into more than {cap} data sub-blocks")
    return -1
