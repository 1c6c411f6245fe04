"""Optional Pillow plugins, registered once."""

from __future__ import annotations

from functools import cache


@cache
def register_plugins() -> None:
    # pillow-heif adds HEIC/HEIF decoding; Pillow 13 decodes AVIF by itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
