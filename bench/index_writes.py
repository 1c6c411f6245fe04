"""DynamoDB write units of a sequence of writes to one item, with its global secondary indexes.

The rules are DynamoDB's (developer guide, "Global secondary indexes", writes and write capacity):

- the table: each write costs the larger of the item before and after it, in 1 KB units;
- an index holds an entry for an item that has all of the index's key attributes; the entry is
  the index's keys, the table's key and the projected attributes (every one, with ALL);
- a write that puts an item into an index costs the new entry's units; one that takes it out,
  the old entry's; one that changes the index's key (the sparse index's `updated_at`) deletes
  the old entry and puts the new one, both paid; one that changes only projected attributes
  puts the new entry; one that changes neither costs the index nothing.

Item sizes follow DynamoDB's rules (`item_size`). Index entries are sized without the 100 bytes
of overhead DynamoDB adds to them for storage, which no entry here is near a 1 KB step for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

Item = Mapping[str, Any]  # DynamoDB's wire format: {"name": {"S": "..."}, ...}


@dataclass(frozen=True)
class IndexShape:
    keys: tuple[str, ...]  # partition, then sort
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    attributes: tuple[str, ...] = ()  # INCLUDE's non-key attributes


def shapes_of(table: Mapping[str, Any]) -> dict[str, IndexShape]:
    """The indexes of a DescribeTable answer's `Table`."""
    shapes = {}
    for index in table.get("GlobalSecondaryIndexes", []):
        keys = sorted(index["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
        projection = index.get("Projection", {})
        shapes[index["IndexName"]] = IndexShape(
            tuple(k["AttributeName"] for k in keys),
            projection.get("ProjectionType", "ALL"),
            tuple(projection.get("NonKeyAttributes", ())),
        )
    return shapes


def all_projected(shapes: Mapping[str, IndexShape]) -> dict[str, IndexShape]:
    """The same indexes, each copying every attribute (the catalog before issue 12)."""
    return {name: replace(shape, projection="ALL", attributes=()) for name, shape in shapes.items()}


def units(size: int) -> int:
    return math.ceil(size / 1024)


def table_units(before: Item | None, after: Item) -> int:
    return units(max(item_size(before or {}), item_size(after)))


def index_units(before: Item | None, after: Item | None, shape: IndexShape, key: str) -> int:
    """What one write costs one index."""
    old, new = index_entry(before, shape, key), index_entry(after, shape, key)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return units(item_size(old or new or {}))
    if any(old[k] != new[k] for k in shape.keys):
        return units(item_size(old)) + units(item_size(new))
    return units(item_size(new)) if old != new else 0


def sequence_units(
    items: Sequence[Item], shapes: Mapping[str, IndexShape], key: str
) -> tuple[int, dict[str, int]]:
    """(table units, units per index) of writing these items one after the other."""
    table = 0
    per_index = dict.fromkeys(shapes, 0)
    before: Item | None = None
    for after in items:
        table += table_units(before, after)
        for name, shape in shapes.items():
            per_index[name] += index_units(before, after, shape, key)
        before = after
    return table, per_index


def query_read_units(entries: Sequence[Item]) -> float:
    """An index Query: the entries' total size in 4 KB units, halved (always eventually
    consistent)."""
    return math.ceil(sum(item_size(e) for e in entries) / 4096) / 2


def batch_get_read_units(items: Sequence[Item], *, consistent: bool) -> float:
    """BatchGetItem: each item in 4 KB units, halved when eventually consistent."""
    return sum(math.ceil(item_size(i) / 4096) for i in items) / (1 if consistent else 2)


def listing_read_units(item: Item, shape: IndexShape, key: str, page: int) -> float:
    """A page of `page` items like this one listed through the index, and the records read
    from the table (eventually consistent) when the index does not copy them whole."""
    entry = index_entry(item, shape, key) or {}
    units = query_read_units([entry] * page)
    return (
        units
        if shape.projection == "ALL"
        else units + batch_get_read_units([item] * page, consistent=False)
    )


def index_entry(item: Item | None, shape: IndexShape, key: str) -> dict[str, Any] | None:
    if item is None or any(k not in item for k in shape.keys):
        return None  # a sparse index holds no entry for it
    if shape.projection == "ALL":
        return dict(item)
    kept = {key, *shape.keys, *shape.attributes}
    return {name: value for name, value in item.items() if name in kept}


def item_size(item: Item) -> int:
    """DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers ~ digits/2)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    size: int
    if kind == "S":
        size = len(str(inner).encode())
    elif kind == "N":
        digits = len(str(Decimal(inner)).replace("-", "").replace(".", "").lstrip("0")) or 1
        size = math.ceil(digits / 2) + 1
    elif kind in ("BOOL", "NULL"):
        size = 1
    elif kind == "B":
        size = len(inner)
    elif kind == "M":
        size = 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    elif kind == "L":
        size = 3 + sum(_value_size(v) + 1 for v in inner)
    else:
        size = len(json.dumps(inner))  # sets: close enough for a bill
    return size
