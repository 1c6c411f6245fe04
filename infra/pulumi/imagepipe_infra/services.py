"""One ECS Fargate service of the image: a Procfile process, its log group, roles and task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from imagepipe_infra import iam, policies

SPOT = "FARGATE_SPOT"
ON_DEMAND = "FARGATE"


@dataclass(frozen=True)
class Runtime:
    """What every service of the stack shares."""

    cluster: aws.ecs.Cluster
    capacity: aws.ecs.ClusterCapacityProviders
    image: pulumi.Input[str]
    repository_arn: pulumi.Input[str] | None
    environment: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    secrets: Mapping[str, pulumi.Input[str]]  # variable -> Secrets Manager ARN
    subnet_ids: Sequence[pulumi.Input[str]]
    region: str
    log_retention_days: int


@dataclass(frozen=True)
class ServiceArgs:
    process: str  # the Procfile entry the image's entry point runs
    runtime: Runtime
    statements: pulumi.Input[Sequence[policies.Statement]]  # the task role's rights
    security_group: aws.ec2.SecurityGroup
    cpu: int = 512
    memory: int = 1024
    desired_count: int = 1
    # FARGATE base tasks first, then FARGATE_SPOT for the rest.
    strategy: Sequence[aws.ecs.ServiceCapacityProviderStrategyArgsDict] = (
        {"capacity_provider": ON_DEMAND, "weight": 1},
    )
    port: int | None = None
    target_group: aws.lb.TargetGroup | None = None
    stop_timeout: int | None = None
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class FargateService(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:services:FargateService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        run = args.runtime
        self.log_group = aws.cloudwatch.LogGroup(
            name, name=f"/imagepipe/{name}", retention_in_days=run.log_retention_days, opts=child
        )
        self.task_role = iam.role(f"{name}-task", args.statements, self)
        self.execution_role = iam.role(
            f"{name}-execution",
            iam.execution_statements(
                run.repository_arn, [self.log_group.arn], list(run.secrets.values())
            ),
            self,
        )
        container = pulumi.Output.all(
            image=run.image,
            log_group=self.log_group.name,
            environment=pulumi.Output.from_input(run.environment),
            own=pulumi.Output.from_input(dict(args.environment)),
            secrets=pulumi.Output.from_input(dict(run.secrets)),
        ).apply(lambda v: self._container(args, v))
        self.task_definition = aws.ecs.TaskDefinition(
            name,
            family=name,
            cpu=str(args.cpu),
            memory=str(args.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.json_dumps(container.apply(lambda c: [c])),
            opts=child,
        )
        balancers: list[aws.ecs.ServiceLoadBalancerArgsDict] | None = None
        if args.target_group is not None:
            if args.port is None:  # the load balancer forwards to the container's port
                raise ValueError(f"{name}: a target group needs the container's port")
            balancers = [
                {
                    "target_group_arn": args.target_group.arn,
                    "container_name": args.process,
                    "container_port": args.port,
                }
            ]
        self.service = aws.ecs.Service(
            name,
            cluster=run.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            capacity_provider_strategies=list(args.strategy),
            network_configuration={
                "subnets": run.subnet_ids,
                "security_groups": [args.security_group.id],
                "assign_public_ip": True,  # AWS APIs through the internet gateway, no NAT
            },
            load_balancers=balancers,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            propagate_tags="SERVICE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[run.capacity]),
        )
        self.register_outputs({"service": self.service.name})

    @staticmethod
    def _container(args: ServiceArgs, v: dict[str, Any]) -> dict[str, Any]:
        environment = {**v["environment"], **v["own"]}
        container: dict[str, Any] = {
            "name": args.process,
            "image": v["image"],
            "essential": True,
            "command": [args.process],  # the entry point runs this Procfile process
            "environment": [{"name": k, "value": str(environment[k])} for k in sorted(environment)],
            "secrets": [{"name": k, "valueFrom": v["secrets"][k]} for k in sorted(v["secrets"])],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": v["log_group"],
                    "awslogs-region": args.runtime.region,
                    "awslogs-stream-prefix": args.process,
                },
            },
        }
        if args.port is not None:
            container["portMappings"] = [{"containerPort": args.port, "protocol": "tcp"}]
        if args.stop_timeout is not None:
            container["stopTimeout"] = args.stop_timeout
        if args.process == "worker":
            # A worker has no port: its event loop writes a heartbeat that this command reads
            # (app/heartbeat.py); ECS replaces a task whose worker hung or died.
            container["healthCheck"] = {
                "command": ["CMD", "imagepipe", "worker-health", "--max-age", "30"],
                "interval": 30,
                "timeout": 10,
                "retries": 3,
                "startPeriod": 60,
            }
        return container
