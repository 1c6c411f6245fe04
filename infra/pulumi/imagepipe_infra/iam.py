"""Task and execution roles: one role per service, holding only what that service does."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from imagepipe_infra import policies

ECS_TASKS = "ecs-tasks.amazonaws.com"
# Pulling an image needs GetAuthorizationToken, which has no resource to name.
ECR_AUTH = ["ecr:GetAuthorizationToken"]
ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
LOG_WRITE = ["logs:CreateLogStream", "logs:PutLogEvents"]
SECRET_READ = ["secretsmanager:GetSecretValue"]


def role(
    name: str,
    statements: pulumi.Input[Sequence[policies.Statement]],
    parent: pulumi.Resource,
    services: Sequence[str] = (ECS_TASKS,),
    opts: pulumi.ResourceOptions | None = None,
) -> aws.iam.Role:
    """A role the `services` assume, with one inline policy made of `statements`."""
    child = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=parent), opts)
    created = aws.iam.Role(name, assume_role_policy=policies.assume_role(*services), opts=child)
    aws.iam.RolePolicy(name, role=created.id, policy=policies.as_json(statements), opts=child)
    return created


def execution_statements(
    repository_arn: pulumi.Input[str] | None,
    log_group_arns: Sequence[pulumi.Input[str]],
    secret_arns: Sequence[pulumi.Input[str]],
) -> pulumi.Output[list[policies.Statement]]:
    """What ECS itself needs to start a task: pull the image, write its logs, read its secrets."""
    logs = [pulumi.Output.concat(arn, ":log-stream:*") for arn in log_group_arns]

    def build(args: list[object]) -> list[policies.Statement]:
        repo, streams, secrets = args[0], args[1], args[2]
        statements = [
            {"Effect": "Allow", "Action": ECR_AUTH, "Resource": "*"},
            policies.allow(LOG_WRITE, streams),  # type: ignore[arg-type]
        ]
        if repo:
            statements.append(policies.allow(ECR_PULL, [repo]))  # type: ignore[list-item]
        if secrets:
            statements.append(policies.allow(SECRET_READ, secrets))  # type: ignore[arg-type]
        return statements

    return pulumi.Output.all(repository_arn, logs, list(secret_arns)).apply(build)
