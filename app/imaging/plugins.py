"""Optional Pillow plugins, registered once."""

from __future__ import annotations

import os
from functools import cache

from PIL import Image
from PIL.AvifImagePlugin import AvifImageFile
from PIL.AvifImagePlugin import _accept as pillow_accepts


@cache
def register_plugins() -> None:
    # pillow-heif adds HEIC/HEIF decoding; Pillow 13 decodes AVIF by itself.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _register_avif_encoder()


def _register_avif_encoder() -> None:
    """AVIF is written by pillow-avif-plugin (libavif with SVT-AV1 and libaom), read by Pillow.

    Importing the plugin registers it for both; only its encoder is wanted (SVT-AV1: see
    encode.py), so Pillow's own AVIF reader, which the hostile-file and orientation tests were
    written against, is put back. Pillow's plugins are loaded first, or a later lazy
    `Image.init()` would register Pillow's AVIF writer over the plugin's.
    """
    # SVT-AV1 prints its whole configuration to stderr for every encode at its default level.
    os.environ.setdefault("SVT_LOG", "1")  # errors only
    Image.init()
    import pillow_avif  # noqa: F401 - registers the plugin's reader and writer

    # Pillow's own reader by name, not whatever is registered now: two threads' first encodes
    # run this at once (functools.cache does not wait), and the later one could otherwise see
    # the plugin's reader in place and put it back (a loaded run's test caught that).
    Image.register_open(AvifImageFile.format, AvifImageFile, pillow_accepts)
