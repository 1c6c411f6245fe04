"""The names and shapes the AWS resources share with the code that uses them: one source of truth.

Imported by the adapters (app/catalog/dynamodb.py), `imagepipe provision` (app/ops/provision.py) and
the Pulumi program (infra/pulumi/, which loads this file by path: it imports nothing else from
app/). Standard library only, and nothing but constants and arithmetic, for that reason.
tests/infra/test_names.py fails when a copy elsewhere drifts from what is here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# --- SQS -------------------------------------------------------------------------------------
UPLOADS_QUEUE: Final = "uploads"  # S3 ObjectCreated events (IMAGEPIPE_UPLOADS_QUEUE's default)
TASK_QUEUE: Final = "imagepipe"  # Celery's queue (IMAGEPIPE_TASK_QUEUE's default)
DLQ_SUFFIX: Final = "-dlq"
MAX_RECEIVES: Final = 5  # receives before SQS dead-letters a message (IMAGEPIPE_SQS_MAX_RECEIVES)
UPLOADS_VISIBILITY_SECONDS: Final = 60  # ingest only hands each event to the broker
DLQ_RETENTION_SECONDS: Final = 14 * 24 * 3600  # SQS's maximum: time to look at what failed
# Longest single retry chain a stage can hold an SQS message for (tasks.pipeline.StageTask).
RETRY_BACKOFF_MAX_SECONDS: Final = 60
TASK_TIME_LIMIT: Final = 120  # IMAGEPIPE_TASK_TIME_LIMIT's default
# Celery's broadcasts go through these SNS topics on SQS (tasks/sqs_transport.py).
FANOUT_TOPICS: Final = ("celeryev", "celery-pidbox")


def dlq_name(queue: str) -> str:
    return queue + DLQ_SUFFIX


def task_visibility_timeout(task_time_limit: int) -> int:
    """Seconds an SQS task message stays hidden once a worker took it.

    Above the hard time limit (celeryconfig: the soft limit plus 15 s) plus the longest retry
    countdown a worker holds a message for, plus a minute, so SQS never hands a task that is
    still running (or waiting to retry) to a second worker.
    """
    return task_time_limit + 15 + RETRY_BACKOFF_MAX_SECONDS + 60


# --- S3 --------------------------------------------------------------------------------------
WORK_PREFIX: Final = "_work"  # the pipeline's working files, under the variants store
NOTIFICATION_ID: Final = "imagepipe-originals-created"
OBJECT_CREATED_EVENTS: Final = ("s3:ObjectCreated:*",)
SSE_ALGORITHM: Final = "AES256"  # what every write asks for (app/storage/s3.py)
# What a browser does with a presigned upload: POST the form, PUT the multipart parts (and read
# each part's ETag to complete the upload).
UPLOAD_CORS_METHODS: Final = ("POST", "PUT")
UPLOAD_CORS_EXPOSE: Final = ("ETag",)


def notification_prefix(originals_prefix: str) -> str:
    """The key prefix the ObjectCreated notification is filtered on ("" for a whole bucket)."""
    prefix = originals_prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def work_prefix(variants_prefix: str) -> str:
    """The key prefix of the working files under a variants store's prefix."""
    prefix = variants_prefix.strip("/")
    return f"{prefix}/{WORK_PREFIX}/" if prefix else f"{WORK_PREFIX}/"


def variant_key(image_id: str, name: str) -> str:
    """Where a variant stored alone lives in the variants store (and its catalog key default)."""
    return f"{image_id}/{name}"


# --- DynamoDB (DynamoDBCatalog) ----------------------------------------------------------------
TABLE: Final = "images"
TABLE_KEY: Final = "image_id"
BY_USER: Final = "by_user"
BY_OPEN_STATUS: Final = "by_open_status"
# Index name -> (partition key, sort key).
INDEXES: Final = MappingProxyType(
    {BY_USER: ("user_id", "upload_time"), BY_OPEN_STATUS: ("open_status", "updated_at")}
)
# Index name -> the attributes it copies beside the keys (docs/capacity.md, issue 12). Every
# table write that changes an index's keys or copied attributes is written again to the index,
# at the entry's size: copying only what a query reads keeps a variant list out of the indexes,
# and a write that changes none of them (the variants, the placeholder) costs the index nothing.
# by_user: what count_open filters on and the quota check sums; list_by_user reads the full
# records from the table. by_open_status: its keys alone; list_stale reads the table.
INDEX_ATTRIBUTES: Final = MappingProxyType({BY_USER: ("status", "size"), BY_OPEN_STATUS: ()})


def index_projection(index: str) -> tuple[str, tuple[str, ...]]:
    """(ProjectionType, NonKeyAttributes) of an index: INCLUDE those, or KEYS_ONLY."""
    attributes = INDEX_ATTRIBUTES[index]
    return ("INCLUDE", attributes) if attributes else ("KEYS_ONLY", ())


ATTRIBUTE_TYPES: Final = MappingProxyType(
    {"image_id": "S", "user_id": "S", "upload_time": "N", "open_status": "S", "updated_at": "N"}
)

# --- CloudFront ----------------------------------------------------------------------------------
# The normalised variant the viewer-request function writes (edge/viewer_request.py): the only
# header in the CDN's cache key.
VARIANT_HEADER: Final = "X-Imagepipe-Variant"
PUBLIC_PREFIX: Final = "/i/"  # delivery URLs (edge/variants.py)
# Variants left to their first request: CloudFront fails over from the variants bucket to the
# API under this origin path (app/api/render.py), sending the stack's secret in this header.
RENDER_PATH: Final = "/render"
RENDER_SECRET_HEADER: Final = "X-Imagepipe-Render-Secret"  # noqa: S105 (a header name)
RENDER_FAILOVER_CODES: Final = (403, 404)  # S3 answers 403 for a missing key without ListBucket
# CloudFront sends the stack's secret in this header to the API origin: the request came through
# it, so the X-Forwarded-For entry CloudFront appended is the viewer's (app/api/client.py).
CDN_SECRET_HEADER: Final = "X-Imagepipe-Cdn-Secret"  # noqa: S105 (a header name)
