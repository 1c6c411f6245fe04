"""`imagepipe stats`: what the catalog holds and what waits in the queue, via the Protocols only
(ImageCatalog.scan and JobQueue.backlog), so it reads the same on embedded and on AWS.

Stored bytes come from the records, not from listing the buckets: a variant's record keeps its
exact size; an original's record keeps its size in KB (rounded, as the architecture paper has
it) once processed, so the originals' figure is approximate and leaves out unprocessed uploads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.catalog import ImageRecord, Status
from app.jobs import JobQueue
from app.services import Services

PAGE = 500


@dataclass
class Stats:
    images: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    originals_bytes: int = 0  # from the records' KB: approximate
    originals_recorded: int = 0  # how many originals that figure covers
    variant_bytes_by_tier: Counter[str] = field(default_factory=Counter)  # "standard/webp"
    variant_bytes_by_width: Counter[int] = field(default_factory=Counter)
    variant_count: int = 0
    backlog: int | None = None
    backlog_error: str | None = None

    def add(self, record: ImageRecord) -> None:
        self.images += 1
        self.by_status[record.status.value] += 1
        if record.status is Status.FAILED:
            self.failure_reasons[record.failure_reason or "unknown"] += 1
        if record.size is not None and record.original_url:
            self.originals_bytes += record.size * 1024
            self.originals_recorded += 1
        variants = [*record.variants, *([record.animated] if record.animated else [])]
        for v in variants:
            self.variant_count += 1
            self.variant_bytes_by_tier[f"{v.tier}/{v.format}"] += v.bytes
            self.variant_bytes_by_width[v.width] += v.bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "by_status": {s.value: self.by_status[s.value] for s in Status},
            "failure_reasons": dict(self.failure_reasons.most_common()),
            "stored_bytes": {
                "originals": self.originals_bytes,
                "originals_counted": self.originals_recorded,
                "originals_note": "from each record's size in KB, once processed: approximate",
                "variants": sum(self.variant_bytes_by_tier.values()),
                "variant_count": self.variant_count,
                "variants_by_tier": dict(sorted(self.variant_bytes_by_tier.items())),
                "variants_by_width": {
                    str(w): b for w, b in sorted(self.variant_bytes_by_width.items())
                },
            },
            "queue": {"backlog": self.backlog, "error": self.backlog_error},
        }


def collect(svc: Services, jobs: JobQueue) -> Stats:
    stats = Stats()
    cursor: str | None = None
    while True:
        page = svc.catalog.scan(limit=PAGE, cursor=cursor)
        for record in page.items:
            stats.add(record)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    try:
        stats.backlog = jobs.backlog()
    except Exception as exc:  # noqa: BLE001 - any broker error is reported, not a crash
        stats.backlog_error = f"{type(exc).__name__}: {exc}"
    return stats


def lines(stats: Stats) -> list[str]:
    """The report for people."""
    data = stats.to_dict()
    stored = data["stored_bytes"]
    out = [f"images: {stats.images}"]
    out += [f"  {status}: {n}" for status, n in data["by_status"].items()]
    if stats.failure_reasons:
        out.append("failure reasons:")
        out += [f"  {reason}: {n}" for reason, n in data["failure_reasons"].items()]
    out.append("stored bytes:")
    out.append(
        f"  originals: {_size(stored['originals'])} (~, {stored['originals_counted']} recorded)"
    )
    out.append(f"  variants: {_size(stored['variants'])} in {stored['variant_count']} files")
    out += [f"    {tier}: {_size(b)}" for tier, b in stored["variants_by_tier"].items()]
    out.append("  variants by width:")
    out += [f"    {w} px: {_size(b)}" for w, b in stored["variants_by_width"].items()]
    queue = data["queue"]
    backlog = queue["backlog"] if queue["error"] is None else f"unknown ({queue['error']})"
    out.append(f"queue backlog: {backlog}")
    return out


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit} ({n} B)"
        value /= 1024
    return f"{n} B"
