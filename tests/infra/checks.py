"""Policy checks over a mocked stack's resource inputs; each returns what is wrong, [] when fine."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.stackmock import Recorded, Stack

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BLOCKS = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
DATA_SERVICES = ("s3", "dynamodb", "sqs", "sns", "secretsmanager", "kms")


def for_bucket(stack: Stack, type_: str, bucket: Recorded) -> list[Recorded]:
    return [r for r in stack.of(type_) if r.inputs.get("bucket") == f"{bucket.name}-id"]


def statements(policy: str | dict[str, Any]) -> list[dict[str, Any]]:
    document = json.loads(policy) if isinstance(policy, str) else policy
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def bucket_problems(stack: Stack) -> list[str]:
    """Every bucket: public access blocked, encrypted by default, TLS only, no public grant."""
    problems = []
    for bucket in stack.of(BUCKET):
        blocks = for_bucket(stack, PUBLIC_ACCESS_BLOCK, bucket)
        if len(blocks) != 1 or not all(blocks[0].inputs.get(flag) is True for flag in BLOCKS):
            problems.append(f"{bucket.name}: public access is not blocked")
        rules = [
            rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
            for config in for_bucket(stack, ENCRYPTION, bucket)
            for rule in config.inputs["rules"]
        ]
        if not rules or not set(rules) <= {"AES256", "aws:kms"}:
            problems.append(f"{bucket.name}: not encrypted by default")
        policies = [
            statements(p.inputs["policy"]) for p in for_bucket(stack, BUCKET_POLICY, bucket)
        ]
        if not any(_denies_plain_http(s) for policy in policies for s in policy):
            problems.append(f"{bucket.name}: requests without TLS are not refused")
        if any(_public_grant(s) for policy in policies for s in policy):
            problems.append(f"{bucket.name}: its policy grants the public")
    return problems


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    return statement["Effect"] == "Deny" and condition.get("aws:SecureTransport") == "false"


def _public_grant(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    anyone = principal == "*" or (
        isinstance(principal, dict) and "*" in _listed(principal.get("AWS"))
    )
    return statement["Effect"] == "Allow" and anyone


def wildcard_data_actions(stack: Stack) -> list[str]:
    """Allow statements of IAM policies with `*` actions, or data actions on `*` resources."""
    problems = []
    for policy in [*stack.of("aws:iam/rolePolicy:RolePolicy"), *stack.of("aws:iam/policy:Policy")]:
        for statement in statements(policy.inputs["policy"]):
            if statement["Effect"] != "Allow":
                continue
            actions = _listed(statement["Action"])
            resources = _listed(statement.get("Resource", []))
            for action in actions:
                service, _, verb = action.partition(":")
                if action == "*" or "*" in verb:
                    problems.append(f"{policy.name}: wildcard action {action}")
                elif service in DATA_SERVICES and "*" in resources:
                    problems.append(f"{policy.name}: {action} on every resource")
    return problems


def rights(stack: Stack, role_policy_name: str) -> dict[str, set[str]]:
    """Action -> the resources a role's inline policy allows it on."""
    allowed: dict[str, set[str]] = {}
    policy = stack.one("aws:iam/rolePolicy:RolePolicy", role_policy_name)
    for statement in statements(policy.inputs["policy"]):
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            allowed.setdefault(action, set()).update(_listed(statement["Resource"]))
    return allowed
