"""IAM policy documents as plain dicts: explicit actions, named resources, no `*` on data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

Statement = dict[str, Any]

S3_READ = ["s3:GetObject"]
S3_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
S3_DELETE = ["s3:DeleteObject"]
TABLE_READ_WRITE = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:DescribeTable",
]
QUEUE_CONSUME = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
]
QUEUE_SEND = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
# kombu declares the queue it uses (CreateQueue on an existing queue returns its URL).
QUEUE_DECLARE = ["sqs:CreateQueue"]
# Temporary queues for Celery's events and remote control, and the SNS topics that fan out to them
# (docs/aws.md, "Flower on SQS").
TEMP_QUEUES = [
    "sqs:CreateQueue",
    "sqs:DeleteQueue",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:SendMessage",
    "sqs:ChangeMessageVisibility",
]
FANOUT_TOPICS = [
    "sns:CreateTopic",
    "sns:Subscribe",
    "sns:Unsubscribe",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
    "sns:GetTopicAttributes",
    "sns:SetSubscriptionAttributes",
]


def allow(actions: Sequence[str], resources: Sequence[str]) -> Statement:
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}


def document(statements: Sequence[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def as_json(statements: pulumi.Input[Sequence[Statement]]) -> pulumi.Output[str]:
    """A policy document from statements that may hold Outputs (ARNs)."""
    return pulumi.Output.json_dumps(pulumi.Output.from_input(statements).apply(document))


def assume_role(*services: str) -> str:
    return json.dumps(
        document(
            [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": list(services)},
                    "Action": "sts:AssumeRole",
                }
            ]
        )
    )


def tls_only(bucket_arn: str) -> Statement:
    """Refuse every request to the bucket that does not come over TLS."""
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
