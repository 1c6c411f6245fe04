"""Both queues: a DLQ with the configured maxReceiveCount; the notification waits for the policy."""

from __future__ import annotations

import json

from app import names
from tests.infra import checks
from tests.infra.stackmock import Stack

QUEUE = "aws:sqs/queue:Queue"


def _queues(stack: Stack) -> dict[str, dict[str, object]]:
    return {q.inputs["name"]: q.inputs for q in stack.of(QUEUE)}


def test_every_queue_has_a_dlq_with_the_configured_max_receive_count(stack: Stack) -> None:
    queues = _queues(stack)
    assert set(queues) == {
        "imagepipe-test-uploads",
        "imagepipe-test-uploads-dlq",
        "imagepipe-test-imagepipe",
        "imagepipe-test-imagepipe-dlq",
    }
    for name, inputs in queues.items():
        assert inputs["sqsManagedSseEnabled"] is True, name
        if name.endswith(names.DLQ_SUFFIX):
            assert "redrivePolicy" not in inputs
            assert inputs["messageRetentionSeconds"] == names.DLQ_RETENTION_SECONDS
            continue
        redrive = json.loads(str(inputs["redrivePolicy"]))
        assert redrive == {
            "deadLetterTargetArn": f"arn:aws:sqs:eu-west-1:123456789012:{name}-dlq",
            "maxReceiveCount": 7,  # the stack's config, not the default
        }


def test_the_task_queue_hides_a_message_longer_than_the_longest_task(stack: Stack) -> None:
    tasks = _queues(stack)["imagepipe-test-imagepipe"]
    hard_limit = names.TASK_TIME_LIMIT + 15
    assert tasks["visibilityTimeoutSeconds"] > hard_limit + names.RETRY_BACKOFF_MAX_SECONDS
    assert tasks["visibilityTimeoutSeconds"] == names.task_visibility_timeout(120)


def test_only_the_originals_bucket_may_send_to_uploads(stack: Stack) -> None:
    (policy,) = stack.of("aws:sqs/queuePolicy:QueuePolicy")
    assert policy.inputs["queueUrl"].endswith("/imagepipe-test-uploads")
    (statement,) = checks.statements(policy.inputs["policy"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:imagepipe-test-uploads"
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::imagepipe-test-originals"}
    }


def test_the_notification_targets_uploads_and_depends_on_the_queue_policy(stack: Stack) -> None:
    (notification,) = stack.of("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == "imagepipe-test-originals-id"
    (rule,) = notification.inputs["queues"]
    assert rule["queueArn"] == "arn:aws:sqs:eu-west-1:123456789012:imagepipe-test-uploads"
    assert rule["events"] == list(names.OBJECT_CREATED_EVENTS)
    assert rule["id"] == names.NOTIFICATION_ID
    (policy,) = stack.of("aws:sqs/queuePolicy:QueuePolicy")
    assert policy.name in notification.depends_on
