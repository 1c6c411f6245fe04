"""Encoders with their settings: metadata-free output, alpha kept where the format allows it.

Why these settings (measured on the corpus; docs/imaging.md has the figures, bench/codecs.py
measures them):

- Standard tier: the lowest qualities at which every standard variant of every corpus photo keeps
  SSIM >= 0.95 against an exact Lanczos downscale of the original (the issue's bar). The hardest
  photos (plasma_Path, fine foliage; the CMYK one) need JPEG 90 (89 passes by 0.003), WebP 85
  (0.9545 at method 2) and AVIF 70 (SVT-AV1: lowest 0.9509 over the corpus; libaom, which takes
  the frames SVT-AV1 refuses, passes at 70 by 0.001). At 72 SVT-AV1's AVIFs are 4% larger and the
  variant set's bytes would exceed those before issue 12 (docs/imaging.md).
- Low tier (160-lq, for Save-Data and 2G): small on purpose (JPEG 45, WebP 40, AVIF 35).
- Weak tier (640-lq, what a phone on 3g is served): AVIF 60, WebP 70, JPEG 65. Shown at 720
  device px, every gallery photo keeps SSIM >= 0.92 against the 720 px reference (docs/delivery.md).
- JPEG 4:2:0, progressive, optimized Huffman tables: progressive so a first scan paints early on
  slow links; optimize because it is ~5% smaller for little CPU.
- WebP method 2: browsers that take AVIF are served AVIF, so WebP's bytes reach few clients while
  its CPU is spent on every image. Over the corpus, method 2 is 2.2x faster than 4 for 2.3% more
  WebP bytes (lowest SSIM 0.9545 vs 0.9549); method 3 costs what 4 does, 1 and 0 are 12-20% larger.
- AVIF: SVT-AV1 preset 8, 4:2:0, level of parallelism 1 (through pillow-avif-plugin): 2.7x less
  CPU than libaom speed 8 tune=ssim for fewer AVIF bytes (docs/imaging.md). It still starts ~16
  threads per encode, and near an address-space ceiling it can fail to start them and die of
  SIGSEGV, so the worker runs these encodes in a warm child process (app/imaging/warm.py) and
  limits malloc arenas (app/imaging/arenas.py). Frames SVT-AV1 refuses (under 4 px a side, over
  16384x8704, and gray ones) and encodes it fails go to libaom (`avif_codec="aom"` chooses it
  everywhere). Encodes already run side by side: one thread each.
- Nothing but pixels is written: no EXIF, XMP, IPTC or comment; no ICC profile (pixels are
  sRGB, which is what browsers assume of an untagged image).
"""

from __future__ import annotations

import io
import logging
import threading
from contextlib import nullcontext
from dataclasses import dataclass, replace

from PIL import Image

from app.imaging.plugins import register_plugins
from app.imaging.realtime import no_realtime_here

log = logging.getLogger(__name__)

# SVT-AV1 (v4.1) refuses frames smaller than 4 px or larger than 16384 x 8704: libaom takes them.
SVT_MIN_SIDE = 4
SVT_MAX_WIDTH = 16384
SVT_MAX_HEIGHT = 8704

# An SVT-AV1 encoder of a 1920 px frame holds ~65 MB: two side by side pushed a worker over its
# 200 MB at 50 MP (docs/benchmarks.md), so frames of a megapixel or more take turns per process.
SVT_ONE_AT_A_TIME_PIXELS = 1_000_000
_SVT_BIG = threading.Lock()

CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


@dataclass(frozen=True)
class Quality:
    jpg: int
    webp: int
    avif: int

    def for_format(self, fmt: str) -> int:
        value: int = getattr(self, fmt)
        return value


@dataclass(frozen=True)
class EncodeSettings:
    standard: Quality = Quality(jpg=90, webp=85, avif=70)
    low: Quality = Quality(jpg=45, webp=40, avif=35)
    weak: Quality = Quality(jpg=65, webp=70, avif=60)
    webp_method: int = 2  # a fallback few clients are served: the fast method (docstring)
    # "svt" (SVT-AV1) or "aom" (libaom), both through pillow-avif-plugin. SVT-AV1 is ~2.7x
    # cheaper (docs/imaging.md); it starts ~16 threads of its own and can crash near an address-
    # space ceiling, so a worker runs its encodes in a warm child process (app/imaging/warm.py).
    avif_codec: str = "svt"
    avif_speed: int = 8  # SVT-AV1's preset (libavif passes the speed through; 9 and 10 are M9)
    aom_speed: int = 8  # libaom: for frames SVT-AV1 cannot take, and the "aom" codec
    # SVT-AV1's own options (libavif's codec-specific key/values), e.g. the phone tier's
    # ("tune", "4"): passed to SVT-AV1 only, never to libaom (which refuses them).
    svt_options: tuple[tuple[str, str], ...] = ()
    # SVT-AV1's threads for one encode (libavif's maxThreads); libaom always gets one. Encodes
    # run side by side already, so one is the rule; plan.PHONE_AVIF says when the phone tier
    # gets two.
    svt_threads: int = 1
    threads: int = 2  # encodes run side by side (Pillow releases the GIL while encoding)
    background: tuple[int, int, int] = (255, 255, 255)

    def quality_for(self, tier: str) -> Quality:
        """The qualities of a plan tier ("standard", "low" or "weak")."""
        return {"low": self.low, "weak": self.weak}.get(tier, self.standard)


def encode(img: Image.Image, fmt: str, quality: int, settings: EncodeSettings) -> bytes:
    register_plugins()  # the AVIF writer is pillow-avif-plugin's
    out = io.BytesIO()
    if fmt == "jpg":
        _jpeg_ready(img, settings.background).save(
            out, "JPEG", quality=quality, optimize=True, progressive=True, subsampling="4:2:0"
        )
    elif fmt == "webp":
        _colour_ready(img).save(out, "WEBP", quality=quality, method=settings.webp_method)
    elif fmt == "avif":
        _encode_avif(_colour_ready(img), out, quality, settings, gray=img.mode in ("L", "LA"))
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return out.getvalue()


def _encode_avif(
    img: Image.Image, out: io.BytesIO, quality: int, settings: EncodeSettings, *, gray: bool
) -> None:
    options = avif_options(img.size, settings, gray=gray)
    if options["codec"] != "svt":
        img.save(out, "AVIF", quality=quality, **options)
        return
    no_realtime_here()  # else SVT-AV1, run by root, makes this thread SCHED_FIFO 99
    try:
        with _SVT_BIG if img.width * img.height >= SVT_ONE_AT_A_TIME_PIXELS else nullcontext():
            img.save(out, "AVIF", quality=quality, **options)
    except RuntimeError as exc:
        # SVT-AV1 starts threads of its own; when it cannot (a worker near its memory ceiling,
        # or the host out of threads: "Failed to create thread", seen in the hostile-file run)
        # it fails the encode. libaom runs on the calling thread: the image still gets its AVIF.
        log.warning("SVT-AV1 failed (%s); encoding this AVIF with libaom", exc)
        out.seek(0)
        out.truncate()
        aom = replace(settings, avif_codec="aom")
        img.save(out, "AVIF", quality=quality, **avif_options(img.size, aom, gray=gray))


def avif_codec(size: tuple[int, int], settings: EncodeSettings, *, gray: bool = False) -> str:
    """SVT-AV1 where it can encode the frame, libaom (any size) elsewhere.

    Gray frames go to libaom too: SVT-AV1 has no 4:0:0, and in 4:2:0 at the low tiers it leaves
    visible chroma noise on a gray picture (libaom does not; test_corpus checks every format).
    """
    width, height = size
    fits = SVT_MIN_SIDE <= width <= SVT_MAX_WIDTH and SVT_MIN_SIDE <= height <= SVT_MAX_HEIGHT
    if settings.avif_codec == "svt" and (gray or not fits):
        return "aom"
    return settings.avif_codec


def avif_options(
    size: tuple[int, int], settings: EncodeSettings, *, gray: bool = False
) -> dict[str, object]:
    """pillow-avif-plugin's save options: 4:2:0, one thread (encodes already run side by side)
    but for SVT-AV1's ``svt_threads``."""
    codec = avif_codec(size, settings, gray=gray)
    threads = settings.svt_threads if codec == "svt" else 1
    options: dict[str, object] = {"codec": codec, "subsampling": "4:2:0", "max_threads": threads}
    if codec == "aom":
        # aom's default tune (psnr) spends bits on noise SSIM does not see.
        options |= {"speed": settings.aom_speed, "advanced": {"tune": "ssim"}}
    else:
        options["speed"] = settings.avif_speed
        if settings.svt_options:
            options["advanced"] = dict(settings.svt_options)
    return options


def _jpeg_ready(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if img.mode in ("RGB", "L"):
        return _private(img)
    if img.mode in ("RGBA", "LA"):
        base = Image.new("RGB", img.size, background)
        base.paste(img.convert("RGBA"), mask=img.getchannel("A"))
        return base
    return img.convert("RGB")


def _colour_ready(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "RGBA"):
        return _private(img)
    return img.convert("RGBA" if img.mode == "LA" else "RGB")


def _private(img: Image.Image) -> Image.Image:
    """A new Image object over the same pixels, with no metadata.

    `Image.save` keeps its parameters on the Image object (`encoderinfo`), so two threads saving
    one object at once would swap qualities; each encode gets its own object (no pixel copy).
    Encoders also copy exif/icc/xmp from `info` when present: the copy carries none.
    """
    fresh = img._new(img.im)
    fresh.info = {}
    return fresh
