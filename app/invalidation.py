"""CDN invalidation after an erasure: a Protocol, a null adapter, and CloudFront's.

Embedded mode has no CDN cache (the app serves /i/ itself), so the null adapter answers
``[]``. On AWS, CloudFront's edge caches keep variants for up to a year (they are immutable),
so an erased image's paths are invalidated; the IDs go into the erasure's receipt.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from app.settings import Settings

# CloudFront takes at most 3,000 exact paths per invalidation (wildcards are limited to 15
# in progress, so exact paths are used: an erased user may have thousands of images).
MAX_PATHS = 3000


class Invalidator(Protocol):
    def invalidate(self, paths: Sequence[str]) -> list[str]:
        """Ask the CDN to drop ``paths``; the invalidation IDs (none when nothing to do)."""
        ...


class NoCdn:
    """Null adapter: nothing caches the images outside the app."""

    def invalidate(self, paths: Sequence[str]) -> list[str]:
        return []


class CloudFrontInvalidator:
    def __init__(self, client: Any, distribution_id: str) -> None:
        self._client = client
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str]) -> list[str]:
        ids = []
        unique = list(dict.fromkeys(paths))
        for start in range(0, len(unique), MAX_PATHS):
            batch = unique[start : start + MAX_PATHS]
            response = self._client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(batch), "Items": batch},
                    "CallerReference": uuid.uuid4().hex,
                },
            )
            ids.append(str(response["Invalidation"]["Id"]))
        return ids


def invalidator_from_settings(settings: Settings) -> Invalidator:
    if not settings.cloudfront_distribution_id:
        return NoCdn()
    from app import aws

    client = aws._client("cloudfront", None)  # the shared session and retry policy
    return CloudFrontInvalidator(client, settings.cloudfront_distribution_id)
