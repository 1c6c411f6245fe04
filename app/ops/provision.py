"""Idempotent set-up of the AWS resources the settings name: run it once, or as often as you like.

- the originals and variants buckets: private, encrypted by default, incomplete multipart uploads
  aborted after a day, working files (`_work/`) expired after two, CORS for browser uploads;
- the `uploads` SQS queue (+ DLQ), with the originals bucket's ObjectCreated notifications,
  filtered on the originals prefix, and a policy letting only that bucket send to it;
- the Celery task queue (+ DLQ), hidden long enough for the longest task;
- the DynamoDB table and its two indexes (app/catalog/dynamodb.py).

Kombu creates the SNS topic for Celery's event fanout itself, on first use (celeryconfig.py).
Used by `imagepipe provision`, the end-to-end tests and `make run-aws-local`; production uses the
same shapes through infra/pulumi/.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app import aws, names
from app.aws import ClientError
from app.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

# The shapes infra/pulumi/ builds too: one source of truth (app/names.py).
NOTIFICATION_ID = names.NOTIFICATION_ID
DLQ_SUFFIX = names.DLQ_SUFFIX
UPLOADS_VISIBILITY_SECONDS = names.UPLOADS_VISIBILITY_SECONDS
DLQ_RETENTION_SECONDS = names.DLQ_RETENTION_SECONDS


@dataclass(frozen=True)
class Provisioned:
    buckets: tuple[str, ...]
    uploads_queue_url: str | None
    uploads_dlq_url: str | None
    task_queue_url: str | None
    task_dlq_url: str | None
    table: str | None

    def lines(self) -> list[str]:
        return [f"{name} = {value}" for name, value in vars(self).items() if value]


def provision(settings: Settings, location: aws.AwsLocation | None = None) -> Provisioned:
    """Create or update every AWS resource the settings' URLs name; skip the embedded ones."""
    where = location or aws.AwsLocation.from_settings(settings)
    s3 = aws.s3_client(where)
    sqs = aws.sqs_client(where)
    buckets: list[str] = []
    uploads = uploads_dlq = tasks = tasks_dlq = table = None
    for url, is_originals in ((settings.originals_url, True), (settings.variants_url, False)):
        if url.startswith("s3://"):
            bucket, prefix = aws.split_s3_url(url)
            if bucket not in buckets:
                ensure_bucket(s3, bucket, where.region_name, settings.public_base_url)
                buckets.append(bucket)
            ensure_lifecycle(s3, bucket, prefix, is_originals=is_originals)
    if settings.originals_url.startswith("s3://"):
        bucket, prefix = aws.split_s3_url(settings.originals_url)
        uploads_dlq = ensure_queue(sqs, settings.uploads_queue + DLQ_SUFFIX, dlq=True)
        uploads = ensure_queue(
            sqs,
            settings.uploads_queue,
            visibility=UPLOADS_VISIBILITY_SECONDS,
            dead_letter=(uploads_dlq, settings.sqs_max_receives),
            senders_bucket=bucket,
        )
        ensure_notification(s3, sqs, bucket, prefix, uploads)
    if settings.broker_url.startswith("sqs://") and not settings.task_queue_url:
        tasks_dlq = ensure_queue(sqs, settings.task_queue + DLQ_SUFFIX, dlq=True)
        tasks = ensure_queue(
            sqs,
            settings.task_queue,
            visibility=aws.task_visibility_timeout(settings),
            dead_letter=(tasks_dlq, settings.sqs_max_receives),
        )
    if settings.catalog_url.startswith("dynamodb://"):
        table = aws.dynamodb_table_name(settings.catalog_url)
        ensure_table(aws.dynamodb_client(where), table)
    return Provisioned(tuple(buckets), uploads, uploads_dlq, tasks, tasks_dlq, table)


def ensure_bucket(s3: S3Client, bucket: str, region: str, web_origin: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
            )
        log.info("created bucket %s", bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": names.SSE_ALGORITHM}}]
        },
    )
    # Browsers post the upload form and PUT the parts straight to the bucket, and must read each
    # part's ETag to complete a multipart upload.
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [web_origin],
                    "AllowedMethods": list(names.UPLOAD_CORS_METHODS),
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": list(names.UPLOAD_CORS_EXPOSE),
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )


def ensure_lifecycle(s3: S3Client, bucket: str, prefix: str, *, is_originals: bool) -> None:
    """Our rules (by ID) replace their earlier versions; anyone else's rules are kept."""
    base = f"{prefix}/" if prefix else ""
    ours: list[dict[str, Any]]
    if is_originals:
        ours = [
            {
                "ID": f"imagepipe-abort-multipart-{prefix or 'root'}",
                "Filter": {"Prefix": base},
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    else:
        ours = [
            {
                "ID": f"imagepipe-expire-work-{prefix or 'root'}",
                "Filter": {"Prefix": names.work_prefix(prefix)},
                "Status": "Enabled",
                "Expiration": {"Days": 2},
            }
        ]
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as exc:
        if _code(exc) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    ids = {r["ID"] for r in ours}
    kept: list[Any] = [r for r in rules if r.get("ID") not in ids]
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": kept + ours},
    )


def ensure_queue(
    sqs: SQSClient,
    name: str,
    *,
    dlq: bool = False,
    visibility: int = 30,
    dead_letter: tuple[str, int] | None = None,
    senders_bucket: str | None = None,
) -> str:
    """The queue's URL; created, or brought to these attributes when it exists."""
    attributes: dict[str, str] = {
        "VisibilityTimeout": str(visibility),
        "SqsManagedSseEnabled": "true",
    }
    if dlq:
        attributes["MessageRetentionPeriod"] = str(DLQ_RETENTION_SECONDS)
    if dead_letter:
        dlq_url, max_receives = dead_letter
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": max_receives}
        )
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        log.info("created queue %s", url)
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    if senders_bucket:
        arn = queue_arn(sqs, url)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OriginalsBucketNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{senders_bucket}"}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url


def queue_arn(sqs: SQSClient, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return attributes["QueueArn"]


def ensure_notification(
    s3: S3Client, sqs: SQSClient, bucket: str, prefix: str, queue_url: str
) -> None:
    """ObjectCreated under the originals prefix -> the uploads queue; other configurations kept."""
    current: dict[str, Any] = dict(s3.get_bucket_notification_configuration(Bucket=bucket))
    current.pop("ResponseMetadata", None)
    queues = [q for q in current.get("QueueConfigurations", []) if q.get("Id") != NOTIFICATION_ID]
    rule: dict[str, Any] = {
        "Id": NOTIFICATION_ID,
        "QueueArn": queue_arn(sqs, queue_url),
        "Events": list(names.OBJECT_CREATED_EVENTS),
    }
    if prefix:
        rule["Filter"] = {
            "Key": {"FilterRules": [{"Name": "prefix", "Value": names.notification_prefix(prefix)}]}
        }
    current["QueueConfigurations"] = [*queues, rule]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration=current,  # type: ignore[arg-type]
    )


_INDEXES = names.INDEXES
_ATTRIBUTE_TYPES = names.ATTRIBUTE_TYPES


def ensure_table(dynamodb: DynamoDBClient, table: str) -> None:
    """The catalog table, on-demand, with both indexes (a missing index is added)."""
    definitions: Any = [
        {"AttributeName": k, "AttributeType": t} for k, t in _ATTRIBUTE_TYPES.items()
    ]
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=definitions,
            KeySchema=[{"AttributeName": names.TABLE_KEY, "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[_index(name) for name in _INDEXES],
            SSESpecification={"Enabled": True},
        )
        log.info("created table %s", table)
    else:
        present = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
        for name in _INDEXES.keys() - present:
            dynamodb.update_table(
                TableName=table,
                AttributeDefinitions=definitions,
                GlobalSecondaryIndexUpdates=[{"Create": _index(name)}],
            )
            log.info("added index %s to table %s", name, table)
        for index in described.get("GlobalSecondaryIndexes", []):
            name = index["IndexName"]
            if name in _INDEXES and _drifted(index.get("Projection", {}), _projection(name)):
                # A projection cannot be changed in place: the index must be deleted and made
                # again (a backfill). The code reads either shape; only the write saving waits.
                log.warning(
                    "index %s of table %s projects %s, not %s: it still works, but writes "
                    "cost more until the index is deleted and `imagepipe provision` run again",
                    name,
                    table,
                    index.get("Projection"),
                    _projection(name),
                )
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def _index(name: str) -> Any:
    partition, sort = _INDEXES[name]
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": sort, "KeyType": "RANGE"},
        ],
        "Projection": _projection(name),
    }


def _drifted(made: Any, wanted: Any) -> bool:
    return bool(
        made.get("ProjectionType") != wanted["ProjectionType"]
        or set(made.get("NonKeyAttributes", [])) != set(wanted.get("NonKeyAttributes", []))
    )


def _projection(name: str) -> Any:
    kind, attributes = names.index_projection(name)
    return {
        "ProjectionType": kind,
        **({"NonKeyAttributes": list(attributes)} if attributes else {}),
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
