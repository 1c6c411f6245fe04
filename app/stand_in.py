"""A stored variant served in place of one not made yet, while its image is processing.

Between the first paint (the resize stage stores ``160-lq.webp`` and ``640.webp``) and ``ready``
(the encode stage records the AVIFs), an image has some variants and not others. A viewer may
ask for one of the others meanwhile: CloudFront's negotiation picks AVIF without reading the
record, and a ``srcset`` picks a width whatever is stored. Rendering it then would decode the
original on the API for an AVIF processing is about to store, or for a variant left to its first
request (IMAGEPIPE_EAGER_VARIANTS) that an AVIF browser stops asking for once the image is ready;
and it would land on the API exactly when the queue, and so the window, is longest.

So the viewer is served the closest stored variant of a format its browser takes, marked with
``X-Imagepipe-Stand-In`` and ``Cache-Control: no-store`` so that no cache keeps it under the
name asked for. Once the image is ready, the variant itself is served, or made on its first
request, as usual. This module only chooses; it knows nothing of HTTP or storage.
"""

from __future__ import annotations

from typing import Final

from app.catalog import ImageRecord, Status, VariantRecord
from edge.variants import LOW, LQ_WIDTH, Variant, parse_name

# The formats a browser asking for a format also takes: every browser with AVIF decodes WebP.
_TAKEN_WITH: Final = {"avif": ("avif", "webp"), "webp": ("webp",), "jpg": ("jpg",)}
_UNFINISHED: Final = frozenset({Status.PENDING, Status.PROCESSING})


def stand_in(record: ImageRecord, name: str) -> VariantRecord | None:
    """The stored variant to serve for ``name``, not stored, while ``record`` is processing.

    ``None`` once the image is ready or failed, for a name that is no variant, and when no
    stored variant of a format the viewer takes is recorded yet. The closest slot at least as
    wide wins (the browser scales it down), else the widest narrower one; at the same width, the
    tier asked for (``640-lq`` for ``640-lq``), then the format asked for. The 160 px
    placeholder stands in only for a placeholder (what 2g and Save-Data are sent), never for a
    picture.
    """
    wanted = parse_name(name)
    if record.status not in _UNFINISHED or wanted is None:
        return None
    formats = _TAKEN_WITH[wanted.format]
    candidates: list[tuple[Variant, VariantRecord]] = []
    for stored in record.variants:
        variant = parse_name(stored.name)
        if (
            variant is not None
            and not stored.on_request
            and stored.format in formats
            and (variant.width == LQ_WIDTH) == (wanted.width == LQ_WIDTH)
        ):
            candidates.append((variant, stored))
    if not candidates:
        return None

    def rank(candidate: tuple[Variant, VariantRecord]) -> tuple[bool, int, bool, int]:
        variant, _ = candidate
        return (
            variant.width < wanted.width,
            abs(variant.width - wanted.width),
            # 640-lq for 640-lq (3g); for anything else the standard 640 over it.
            (variant.tier == LOW) != (wanted.tier == LOW),
            formats.index(variant.format),
        )

    return min(candidates, key=rank)[1]
