"""The worker's liveness, as a file its event loop touches: what a container health check reads.

A Celery worker has no port to probe, and `celery inspect ping` needs remote control, which a
locked-down SQS deployment turns off. So the worker's own timer (tasks/heartbeat.py) rewrites
`<data dir>/health/<hostname>.beat` every few seconds, and `imagepipe worker-health` fails once
no beat is fresher than `--max-age`: a hung event loop or a dead process stops the beats.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.settings import Settings

INTERVAL_SECONDS = 5.0


def beat_path(settings: Settings, hostname: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in hostname)
    return settings.data_path("health", f"{safe}.beat")


def beat(settings: Settings, hostname: str) -> None:
    path = beat_path(settings, hostname)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{time.time():.3f}\n")
    os.replace(tmp, path)  # a reader never sees a half-written beat


def freshest_age(settings: Settings, hostname: str | None = None) -> float | None:
    """Seconds since the newest beat (of `hostname`, or of any worker here); None if none."""
    folder = settings.data_path("health")
    paths = [beat_path(settings, hostname)] if hostname else list(folder.glob("*.beat"))
    ages = []
    for path in paths:
        try:
            ages.append(time.time() - float(path.read_text()))
        except (OSError, ValueError):
            continue
    return min(ages) if ages else None
