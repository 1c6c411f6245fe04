"""Each service's task-role rights, from the resources it touches: nothing more.

- worker: reads originals, writes (and reads back, and deletes) variants, reads and writes the
  table, consumes and sends on its own task queue; Celery's events and remote control (the
  `celeryev` / `celery-pidbox` topics and their temporary queues) when events are on.
- ingest: consumes `uploads` (and dead-letters to its DLQ), sends to the task queue.
- api: signs uploads into originals, reads and writes the table, deletes variants, sends tasks.
- beat: sends to the task queue. flower: events and remote control only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from imagepipe_infra import policies
from imagepipe_infra.policies import Statement
from imagepipe_infra.shared import names

Arn = pulumi.Input[str]


@dataclass(frozen=True)
class Resources:
    originals_arn: Arn
    variants_arn: Arn
    table_arn: Arn
    uploads_arn: Arn
    uploads_dlq_arn: Arn
    tasks_arn: Arn
    tasks_dlq_arn: Arn


def _table(r: Resources) -> pulumi.Output[Statement]:
    return pulumi.Output.all(r.table_arn).apply(
        lambda a: policies.allow(policies.TABLE_READ_WRITE, [a[0], f"{a[0]}/index/*"])
    )


def _send_tasks(r: Resources) -> pulumi.Output[list[Statement]]:
    return pulumi.Output.all(r.tasks_arn).apply(
        lambda a: [
            policies.allow([*policies.QUEUE_SEND, *policies.QUEUE_DECLARE], [a[0]]),
            _list_queues(a[0]),
        ]
    )


def _list_queues(queue_arn: str) -> Statement:
    """kombu lists the account's queues when a channel opens: names only, no messages."""
    return policies.allow(["sqs:ListQueues"], [f"{queue_arn.rsplit(':', 1)[0]}:*"])


def _fanout(r: Resources) -> pulumi.Output[list[Statement]]:
    """Celery's broadcasts: the SNS topics and the temporary queues subscribed to them."""

    def build(arn: str) -> list[Statement]:
        base = arn.rsplit(":", 1)[0]  # arn:aws:sqs:region:account
        topics = base.replace(":sqs:", ":sns:")
        queues = [f"{base}:celeryev-*", f"{base}:*-celery-pidbox"]
        return [
            policies.allow(policies.TEMP_QUEUES, queues),
            policies.allow(policies.FANOUT_TOPICS, [f"{topics}:{t}" for t in names.FANOUT_TOPICS]),
        ]

    return pulumi.Output.from_input(r.tasks_arn).apply(build)


def worker(r: Resources, events: bool = True) -> pulumi.Output[list[Statement]]:
    own = pulumi.Output.all(r.originals_arn, r.variants_arn, r.tasks_arn, r.tasks_dlq_arn).apply(
        lambda a: [
            policies.allow(policies.S3_READ, [f"{a[0]}/*"]),
            policies.allow(
                [*policies.S3_READ, *policies.S3_WRITE, *policies.S3_DELETE], [f"{a[1]}/*"]
            ),
            policies.allow(
                [*policies.QUEUE_CONSUME, *policies.QUEUE_SEND, *policies.QUEUE_DECLARE], [a[2]]
            ),
            # A task rejected for good is moved to the DLQ by SQS; kombu only reads its name.
            policies.allow(["sqs:GetQueueAttributes"], [a[3]]),
            _list_queues(a[2]),
        ]
    )
    parts: list[pulumi.Output[list[Statement]]] = [own, _table(r).apply(lambda s: [s])]
    if events:
        parts.append(_fanout(r))
    return _flatten(parts)


def ingest(r: Resources) -> pulumi.Output[list[Statement]]:
    own = pulumi.Output.all(r.uploads_arn, r.uploads_dlq_arn).apply(
        lambda a: [
            policies.allow(policies.QUEUE_CONSUME, [a[0]]),
            policies.allow(policies.QUEUE_SEND, [a[1]]),  # malformed events, at once
        ]
    )
    return _flatten([own, _send_tasks(r)])


def api(r: Resources, distribution_arn: Arn, events: bool = True) -> pulumi.Output[list[Statement]]:
    own = pulumi.Output.all(r.originals_arn, r.variants_arn, distribution_arn).apply(
        lambda a: [
            # Presigned POST and multipart part URLs are signed with this role's rights.
            policies.allow([*policies.S3_READ, *policies.S3_WRITE], [f"{a[0]}/*"]),
            # Writes: the variants made on their first request (app/rendering.py).
            policies.allow([*policies.S3_READ, "s3:PutObject", *policies.S3_DELETE], [f"{a[1]}/*"]),
            policies.allow(["cloudfront:CreateInvalidation"], [a[2]]),
        ]
    )
    parts = [own, _table(r).apply(lambda s: [s]), _send_tasks(r)]
    if events:
        parts.append(_fanout(r))
    return _flatten(parts)


def beat(r: Resources) -> pulumi.Output[list[Statement]]:
    return _send_tasks(r)


def flower(r: Resources) -> pulumi.Output[list[Statement]]:
    inspect = pulumi.Output.from_input(r.tasks_arn).apply(
        lambda arn: [
            policies.allow(["sqs:GetQueueAttributes", "sqs:GetQueueUrl"], [arn]),
            _list_queues(arn),
        ]
    )
    return _flatten([inspect, _fanout(r)])


def _flatten(parts: Sequence[pulumi.Output[list[Statement]]]) -> pulumi.Output[list[Statement]]:
    return pulumi.Output.all(*parts).apply(lambda lists: [s for part in lists for s in part])
