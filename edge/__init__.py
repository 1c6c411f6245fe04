"""Edge delivery: variant names, negotiation and the Lambda@Edge handlers.

Everything under ``edge/`` is pure standard library: the package is zipped on its own
and shipped to Lambda@Edge, and the app imports ``edge.variants`` as the single source
of truth for variant names and ``edge.widths`` for the width rule its manifest states.
The helpers below convert between CloudFront's header shape
(``{"lower-name": [{"key": "Name", "value": "..."}]}``) and plain mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

CfHeaders = dict[str, list[dict[str, str]]]


def flatten_headers(cf_headers: Mapping[str, Sequence[Mapping[str, str]]]) -> dict[str, str]:
    """CloudFront headers -> ``{lower-name: value}``; repeated fields are comma-joined.

    Joining is what RFC 9110 allows for list-valued fields such as ``Accept``; a
    repeated single-valued hint becomes malformed and is then ignored by the parser.
    """
    return {
        name.lower(): ", ".join(entry.get("value", "") for entry in entries)
        for name, entries in cf_headers.items()
    }


def to_cf_headers(plain: Mapping[str, str]) -> CfHeaders:
    """Plain ``{Name: value}`` -> CloudFront's shape (lower-case keys, original case kept)."""
    return {name.lower(): [{"key": name, "value": value}] for name, value in plain.items()}


def set_header(headers: CfHeaders, name: str, value: str) -> None:
    """Replace every value of ``name`` (case-insensitively) by a single ``value``."""
    headers[name.lower()] = [{"key": name, "value": value}]
