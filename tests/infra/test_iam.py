"""Least privilege: no wildcard data actions anywhere; each role holds only its own resources."""

from __future__ import annotations

import json

from tests.infra import checks
from tests.infra.stackmock import Stack

ORIGINALS = "arn:aws:s3:::imagepipe-test-originals"
VARIANTS = "arn:aws:s3:::imagepipe-test-variants"
QUEUES = "arn:aws:sqs:eu-west-1:123456789012"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:imagepipe-test"


def test_no_policy_allows_wildcard_data_actions(stack: Stack) -> None:
    assert len(stack.of("aws:iam/rolePolicy:RolePolicy")) >= 11
    assert checks.wildcard_data_actions(stack) == []


def test_the_check_catches_a_wildcard() -> None:
    from tests.infra.stackmock import run

    def greedy() -> None:
        import pulumi_aws as aws

        aws.iam.RolePolicy(
            "greedy",
            role="r",
            policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": ["s3:*", "dynamodb:GetItem"], "Resource": "*"}]}',
        )

    assert checks.wildcard_data_actions(run(extra=greedy)) == [
        "greedy: wildcard action s3:*",
        "greedy: dynamodb:GetItem on every resource",
    ]


def _by_resource(rights: dict[str, set[str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for action, resources in rights.items():
        for resource in resources:
            found.setdefault(resource, set()).add(action)
    return found


def test_the_worker_reads_originals_writes_variants_uses_the_table_and_its_queue(
    stack: Stack,
) -> None:
    rights = _by_resource(checks.rights(stack, "-worker-task"))
    assert rights[f"{ORIGINALS}/*"] == {"s3:GetObject"}
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"} <= rights[f"{VARIANTS}/*"]
    assert "s3:PutObject" not in rights.get(f"{ORIGINALS}/*", set())
    table = next(r for r in rights if r.startswith(TABLE) and not r.endswith("/index/*"))
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} <= rights[table]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"} <= rights[
        f"{QUEUES}:imagepipe-test-imagepipe"
    ]
    # And nothing else: not the uploads queue, not another bucket, not another table.
    data = {r for r in rights if r.startswith(("arn:aws:s3", "arn:aws:dynamodb"))}
    assert data == {f"{ORIGINALS}/*", f"{VARIANTS}/*", table, f"{table}/index/*"}
    queues = {r for r in rights if r.startswith("arn:aws:sqs")}
    assert queues == {
        f"{QUEUES}:imagepipe-test-imagepipe",
        f"{QUEUES}:imagepipe-test-imagepipe-dlq",
        f"{QUEUES}:celeryev-*",  # Celery's events and remote control (docs/aws.md)
        f"{QUEUES}:*-celery-pidbox",
        f"{QUEUES}:*",  # kombu's ListQueues, which names no queue
    }
    assert rights[f"{QUEUES}:*"] == {"sqs:ListQueues"}


def test_ingest_reads_uploads_and_only_sends_tasks(stack: Stack) -> None:
    rights = _by_resource(checks.rights(stack, "-ingest-task"))
    assert set(rights) == {
        f"{QUEUES}:imagepipe-test-uploads",
        f"{QUEUES}:imagepipe-test-uploads-dlq",
        f"{QUEUES}:imagepipe-test-imagepipe",
        f"{QUEUES}:*",
    }
    assert rights[f"{QUEUES}:*"] == {"sqs:ListQueues"}
    assert "sqs:ReceiveMessage" not in rights[f"{QUEUES}:imagepipe-test-imagepipe"]


def test_the_api_reads_originals_and_stores_variants_made_on_first_request(
    stack: Stack,
) -> None:
    rights = _by_resource(checks.rights(stack, "-web-task"))
    assert {"s3:GetObject", "s3:PutObject"} <= rights[f"{VARIANTS}/*"]
    assert "s3:GetObject" in rights[f"{ORIGINALS}/*"]  # the original a render decodes


def test_the_api_invalidates_the_distribution_it_is_told_of_and_no_other(stack: Stack) -> None:
    # Without the ID, an erasure leaves the images in CloudFront's caches until they expire.
    # Taking it also orders a deploy: the distribution (its edge functions) is updated and
    # deployed before the API's tasks change, which a stand-in's no-store relies on
    # (edge/origin_response.py, docs/delivery.md).
    distribution = stack.one("aws:cloudfront/distribution:Distribution")
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "-web")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["IMAGEPIPE_CLOUDFRONT_DISTRIBUTION_ID"] == f"{distribution.name}-id"
    rights = checks.rights(stack, "-web-task")
    arn = f"arn:aws:cloudfront::123456789012:distribution/{distribution.name}"
    assert rights["cloudfront:CreateInvalidation"] == {arn}
