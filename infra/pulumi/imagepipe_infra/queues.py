"""The `uploads` queue (S3 ObjectCreated events) and Celery's task queue, each with a DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from imagepipe_infra import policies
from imagepipe_infra.shared import names


@dataclass(frozen=True)
class QueuesArgs:
    uploads_queue: str
    task_queue: str
    max_receives: int
    task_time_limit: int  # the worker's soft limit: the task queue's visibility is above it
    originals_bucket: aws.s3.Bucket  # the only sender of `uploads`, and the notifier
    originals_prefix: str = ""


class Queues(pulumi.ComponentResource):
    uploads: aws.sqs.Queue
    uploads_dlq: aws.sqs.Queue
    tasks: aws.sqs.Queue
    tasks_dlq: aws.sqs.Queue

    def __init__(
        self, name: str, args: QueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:queues:Queues", name, None, opts)
        self.uploads, self.uploads_dlq = self._with_dlq(
            f"{name}-uploads", args.uploads_queue, names.UPLOADS_VISIBILITY_SECONDS, args
        )
        self.tasks, self.tasks_dlq = self._with_dlq(
            f"{name}-tasks",
            args.task_queue,
            names.task_visibility_timeout(args.task_time_limit),
            args,
        )
        child = pulumi.ResourceOptions(parent=self)
        bucket_arn = args.originals_bucket.arn
        policy = aws.sqs.QueuePolicy(
            f"{name}-uploads-policy",
            queue_url=self.uploads.url,
            policy=pulumi.Output.all(self.uploads.arn, bucket_arn).apply(
                lambda arns: json.dumps(_only_bucket_sends(arns[0], arns[1]))
            ),
            opts=child,
        )
        # S3 checks that it may send when the notification is created: after the policy.
        self.notification = aws.s3.BucketNotification(
            f"{name}-originals-created",
            bucket=args.originals_bucket.id,
            queues=[
                {
                    "id": names.NOTIFICATION_ID,
                    "queue_arn": self.uploads.arn,
                    "events": list(names.OBJECT_CREATED_EVENTS),
                    "filter_prefix": names.notification_prefix(args.originals_prefix) or None,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs(
            {
                "uploads": self.uploads.name,
                "uploads_url": self.uploads.url,
                "tasks": self.tasks.name,
                "tasks_url": self.tasks.url,
            }
        )

    def _with_dlq(
        self, name: str, queue: str, visibility: int, args: QueuesArgs
    ) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        child = pulumi.ResourceOptions(parent=self)
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.dlq_name(queue),
            message_retention_seconds=names.DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        main = aws.sqs.Queue(
            name,
            name=queue,
            visibility_timeout_seconds=visibility,
            sqs_managed_sse_enabled=True,
            redrive_policy=dlq.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receives}
                )
            ),
            opts=child,
        )
        return main, dlq


def _only_bucket_sends(queue_arn: str, bucket_arn: str) -> dict[str, object]:
    return policies.document(
        [
            {
                "Sid": "OriginalsBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}},
            }
        ]
    )
