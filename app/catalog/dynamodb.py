"""ImageCatalog on one DynamoDB table, selected by `dynamodb://table`.

The table is the architecture paper's: partition key `image_id`, and the record's fields as
plain attributes, so it reads well in the console. Two global secondary indexes:

- `by_user` (`user_id`, `upload_time` as a Number): a user's images newest first, one Query per
  page; the page's last key is the opaque cursor. It copies only `status` and `size` (what
  count_open and the quota's usage read); a page's records are then one BatchGetItem.
- `by_open_status` (`open_status`, `updated_at`): sparse; only records still `pending` or
  `processing`, or `failed`, carry `open_status`, so the reconciler's and the retention task's
  queries read only unfinished or failed work, never the ready bulk of the table. Keys only:
  what it finds is read from the table.

Every write is conditional: `add` on the ID being free, `save` on the stored version.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from app import aws, names
from app.catalog.base import (
    AlreadyExists,
    CatalogError,
    CatalogUnavailable,
    InvalidCursor,
    RecordNotFound,
    VersionConflict,
    decode_cursor,
    encode_cursor,
)
from app.catalog.records import ImageRecord, Page, Status, Usage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_USER = names.BY_USER  # the table's shape is shared with provision and infra/pulumi/
BY_OPEN_STATUS = names.BY_OPEN_STATUS
# The sparse index holds what the reconciler and the retention task look for; ready images,
# the bulk of the table, stay out of it (every index entry is another write).
OPEN_STATUSES = (Status.PENDING, Status.PROCESSING, Status.FAILED)
_FLOAT_FIELDS = frozenset({"upload_time", "updated_at", "received_at"})
_UNAVAILABLE = frozenset(
    {
        "ResourceNotFoundException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "AccessDeniedException",
        "UnrecognizedClientException",
    }
)
_BATCH_GET = 100  # BatchGetItem's most keys a request
_BATCH_TRIES = 6  # rounds for the keys a throttled BatchGetItem leaves (~3 s of backoff)
_USAGE_PAGE = 1000  # index entries a Query asks for (DynamoDB stops at 1 MB anyway)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDBCatalog:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    @classmethod
    def from_url(cls, url: str, *, location: aws.AwsLocation | None = None) -> DynamoDBCatalog:
        return cls(aws.dynamodb_client(location), aws.dynamodb_table_name(url))

    def add(self, record: ImageRecord) -> ImageRecord:
        stored = record.evolve(version=1, updated_at=_now())
        try:
            with _errors(record.image_id):
                self.client.put_item(
                    TableName=self.table,
                    Item=to_item(stored),
                    ConditionExpression="attribute_not_exists(image_id)",
                )
        except _ConditionFailed:
            raise AlreadyExists(record.image_id) from None
        return stored

    def get(self, image_id: str) -> ImageRecord:
        with _errors(image_id):
            response = self.client.get_item(
                TableName=self.table, Key={"image_id": {"S": image_id}}, ConsistentRead=True
            )
        if "Item" not in response:
            raise RecordNotFound(image_id)
        return from_item(response["Item"])

    def save(self, record: ImageRecord) -> ImageRecord:
        stored = record.evolve(version=record.version + 1, updated_at=_now())
        try:
            with _errors(record.image_id):
                self.client.put_item(
                    TableName=self.table,
                    Item=to_item(stored),
                    ConditionExpression="version = :expected",
                    ExpressionAttributeValues={":expected": {"N": str(record.version)}},
                )
        except _ConditionFailed:
            self.get(record.image_id)  # RecordNotFound when it is gone rather than newer
            raise VersionConflict(
                f"{record.image_id} is no longer at version {record.version}"
            ) from None
        return stored

    def list_by_user(self, user_id: str, *, limit: int, cursor: str | None = None) -> Page:
        # The index holds keys and a few fields, not the variants: the records come from the
        # table, as eventually consistent as the index. One deleted a moment ago is skipped and
        # the page filled from the entries after it: an empty page means the end (erasure).
        items: list[ImageRecord] = []
        while True:
            entries, cursor = self._by_user(user_id, limit - len(items), cursor)
            items += self._records([e["image_id"]["S"] for e in entries], consistent=False)
            if len(items) >= limit or cursor is None:
                return Page(items=items, next_cursor=cursor)

    def usage_by_user(self, user_id: str) -> list[Usage]:
        usage: list[Usage] = []
        cursor: str | None = None
        while True:  # index entries only: ~85 bytes each, not the ~2.6 KB of a ready record
            entries, cursor = self._by_user(user_id, _USAGE_PAGE, cursor)
            usage += [_usage(e) for e in entries]
            if cursor is None:
                return usage

    def _by_user(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the by_user index's entries, newest first, and the cursor after it."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_USER,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
            "ScanIndexForward": False,
            # One more than asked: a next page is promised only when it has something in it.
            "Limit": limit + 1,
        }
        if cursor:
            query["ExclusiveStartKey"] = _start_key(cursor, user_id)
        with _errors(user_id):
            response = self.client.query(**query)
        entries = list(response.get("Items", []))
        if len(entries) > limit:
            entries = entries[:limit]
            last = entries[-1]
            next_cursor: str | None = _cursor(
                last["image_id"]["S"], user_id, last["upload_time"]["N"]
            )
        elif "LastEvaluatedKey" in response:  # the 1 MB page limit cut the query short
            key = response["LastEvaluatedKey"]
            next_cursor = _cursor(key["image_id"]["S"], user_id, key["upload_time"]["N"])
        else:
            next_cursor = None
        return entries, next_cursor

    def _records(self, image_ids: Sequence[str], *, consistent: bool) -> list[ImageRecord]:
        """The records of these IDs, in this order; one gone meanwhile is left out."""
        found: dict[str, ImageRecord] = {}
        for start in range(0, len(image_ids), _BATCH_GET):
            keys = [{"image_id": {"S": i}} for i in image_ids[start : start + _BATCH_GET]]
            request: Any = {self.table: {"Keys": keys, "ConsistentRead": consistent}}
            for attempt in range(_BATCH_TRIES):
                with _errors(self.table):
                    response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    record = from_item(item)
                    found[record.image_id] = record
                request = response.get("UnprocessedKeys")
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: what was left, after a backoff
            else:
                raise CatalogUnavailable(f"{self.table}: BatchGetItem left keys unread")
        return [found[i] for i in image_ids if i in found]

    def count_open(self, user_id: str, *, uploaded_since: float) -> int:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_USER,
            "KeyConditionExpression": "user_id = :u AND upload_time >= :t",
            "FilterExpression": "#s IN (:pending, :processing)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":u": {"S": user_id},
                ":t": {"N": _number(uploaded_since)},
                ":pending": {"S": Status.PENDING.value},
                ":processing": {"S": Status.PROCESSING.value},
            },
            "Select": "COUNT",
        }
        count = 0
        with _errors(user_id):
            while True:
                response = self.client.query(**query)
                count += response.get("Count", 0)
                if "LastEvaluatedKey" not in response:
                    return count
                query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list_stale(
        self, statuses: Sequence[Status], *, updated_before: float, limit: int
    ) -> list[ImageRecord]:
        closed = [s.value for s in statuses if s not in OPEN_STATUSES]
        if closed:
            raise ValueError(
                f"list_stale reads the sparse {BY_OPEN_STATUS} index, which holds only "
                f"{', '.join(s.value for s in OPEN_STATUSES)}; not {', '.join(closed)}"
            )
        found: list[ImageRecord] = []
        for status in statuses:
            found += self._stale(status, updated_before, limit)
        return heapq.nsmallest(limit, found, key=lambda r: r.updated_at)

    def _stale(self, status: Status, updated_before: float, limit: int) -> list[ImageRecord]:
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_OPEN_STATUS,
            "KeyConditionExpression": "open_status = :s AND updated_at < :t",
            "ExpressionAttributeValues": {
                ":s": {"S": status.value},
                ":t": {"N": _number(updated_before)},
            },
            "Limit": limit,
        }
        records: list[ImageRecord] = []
        while len(records) < limit:
            with _errors(status.value):
                response = self.client.query(**query)
            # The index holds only keys: the records are read from the table, strongly
            # consistent, and, the index being eventually consistent, kept only if still true.
            ids = [e["image_id"]["S"] for e in response.get("Items", [])]
            records += [
                r
                for r in self._records(ids, consistent=True)
                if r.status is status and r.updated_at < updated_before
            ]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return records[:limit]

    def scan(self, *, limit: int, cursor: str | None = None) -> Page:
        # A Scan, in the table's own (hash) order: an admin's walk over everything, never a
        # request's. Scan's Limit counts items read, so pages are filled in a loop.
        request: dict[str, Any] = {"TableName": self.table, "Limit": limit, "ConsistentRead": True}
        if cursor:
            after = decode_cursor(cursor).get("id")
            if not isinstance(after, str) or not after:
                raise InvalidCursor("cursor is not one this API issued")
            request["ExclusiveStartKey"] = {"image_id": {"S": after}}
        items: list[ImageRecord] = []
        with _errors(self.table):
            while True:
                request["Limit"] = limit - len(items)
                response = self.client.scan(**request)
                items += [from_item(i) for i in response.get("Items", [])]
                last = response.get("LastEvaluatedKey")
                if last is None or len(items) >= limit:
                    break
                request["ExclusiveStartKey"] = last
        return Page(items, encode_cursor({"id": last["image_id"]["S"]}) if last else None)

    def delete(self, image_id: str) -> bool:
        with _errors(image_id):
            response = self.client.delete_item(
                TableName=self.table,
                Key={"image_id": {"S": image_id}},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in response

    def ping(self) -> None:
        with _errors(self.table):
            self.client.describe_table(TableName=self.table)


def to_item(record: ImageRecord) -> dict[str, Any]:
    """The record as DynamoDB attributes: None left out, floats as Decimal."""
    data = record.to_dict()
    if record.status in OPEN_STATUSES:
        data["open_status"] = record.status.value
    # A key `{image_id}/{name}` is left out (~740 of a 3,360-byte record); a pack's (app/packs.py)
    # is kept without the image ID.
    for variant in _variant_dicts(data):
        if (key := variant.pop("key")) != _derived_key(record.image_id, variant):
            variant["key"] = key.removeprefix(f"{record.image_id}/")
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in data.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> ImageRecord:
    data = {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}
    for name in _FLOAT_FIELDS & data.keys():
        data[name] = float(data[name])
    data.pop("open_status", None)
    for variant in _variant_dicts(data):
        key = variant.get("key") or _derived_key(data["image_id"], variant)
        variant["key"] = key if "/" in key else f"{data['image_id']}/{key}"
    return ImageRecord.from_dict(data)


def _variant_dicts(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    animated = data.get("animated")
    return [*(data.get("variants") or ()), *([animated] if animated else [])]


def _derived_key(image_id: str, variant: Mapping[str, Any]) -> str:
    return names.variant_key(image_id, variant["name"])


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(_number(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _usage(entry: Mapping[str, Any]) -> Usage:
    size = entry.get("size")
    return Usage(
        image_id=entry["image_id"]["S"],
        upload_time=float(entry["upload_time"]["N"]),
        status=Status(entry["status"]["S"]),
        size=int(size["N"]) if size else None,
    )


def _number(value: float) -> str:
    # repr() is the shortest text that reads back as the same float.
    return repr(float(value))


def _now() -> float:
    return time.time()


def _cursor(image_id: str, user_id: str, upload_time: float | str) -> str:
    t = upload_time if isinstance(upload_time, str) else _number(upload_time)
    return encode_cursor({"id": image_id, "u": user_id, "t": t})


def _start_key(cursor: str, user_id: str) -> dict[str, Any]:
    position = decode_cursor(cursor)
    try:
        image_id, owner, upload_time = str(position["id"]), str(position["u"]), position["t"]
        Decimal(upload_time)
    except (KeyError, TypeError, ArithmeticError):
        raise InvalidCursor("cursor is not one this API issued") from None
    if owner != user_id or not image_id:
        raise InvalidCursor("cursor is not one this API issued")
    return {
        "image_id": {"S": image_id},
        "user_id": {"S": user_id},
        "upload_time": {"N": str(upload_time)},
    }


class _ConditionFailed(Exception):
    pass


@contextmanager
def _errors(subject: str) -> Iterator[None]:
    """botocore's errors, as the ImageCatalog Protocol's domain errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "ConditionalCheckFailedException":
            raise _ConditionFailed(subject) from None
        if code in _UNAVAILABLE:
            raise CatalogUnavailable(f"{subject}: {code}: {exc}") from exc
        raise CatalogError(f"{subject}: {code}: {exc}") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, credentials missing, ...
        raise CatalogUnavailable(f"{subject}: {exc}") from exc
