"""Celery workers on Fargate Spot, scaled on backlog per task; the ingest process and beat.

Backlog per task is the task queue's visible messages divided by the worker service's running
tasks: target tracking keeps it near `backlog_per_task`, so the fleet follows the queue, not CPU.
A Spot reclaim sends SIGTERM two minutes ahead; `stop_timeout` (at most Fargate's 120 s) gives
Celery's warm shutdown that time, and an unfinished task is delivered again (acks_late).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgsDict,
)

from imagepipe_infra import policies
from imagepipe_infra.cluster import spot_strategy
from imagepipe_infra.services import ON_DEMAND, FargateService, Runtime, ServiceArgs

# One query of the target-tracking metric math.
MetricQuery = (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgsDict
)

SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300


@dataclass(frozen=True)
class WorkersArgs:
    runtime: Runtime
    security_group: aws.ec2.SecurityGroup
    task_queue_name: pulumi.Input[str]
    worker_statements: pulumi.Input[list[policies.Statement]]
    ingest_statements: pulumi.Input[list[policies.Statement]]
    beat_statements: pulumi.Input[list[policies.Statement]]
    cpu: int = 1024
    memory: int = 4096
    concurrency: int = 2
    min_tasks: int = 1
    max_tasks: int = 20
    fargate_base: int = 1
    backlog_per_task: int = 20
    stop_timeout: int = 120


class Workers(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: WorkersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:workers:Workers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        run = args.runtime
        self.worker = FargateService(
            f"{name}-worker",
            ServiceArgs(
                process="worker",
                runtime=run,
                statements=args.worker_statements,
                security_group=args.security_group,
                cpu=args.cpu,
                memory=args.memory,
                desired_count=args.min_tasks,
                strategy=spot_strategy(args.fargate_base),
                stop_timeout=args.stop_timeout,
                environment={"IMAGEPIPE_WORKER_CONCURRENCY": str(args.concurrency)},
            ),
            opts=child,
        )
        self.ingest = FargateService(
            f"{name}-ingest",
            ServiceArgs(
                process="ingest",
                runtime=run,
                statements=args.ingest_statements,
                security_group=args.security_group,
                strategy=spot_strategy(1),
                stop_timeout=30,  # finishes the long poll in progress (IMAGEPIPE_SQS_WAIT_SECONDS)
            ),
            opts=child,
        )
        # One scheduler only, never reclaimed: on FARGATE.
        self.beat = FargateService(
            f"{name}-beat",
            ServiceArgs(
                process="beat",
                runtime=run,
                statements=args.beat_statements,
                security_group=args.security_group,
                cpu=256,
                memory=512,
                strategy=({"capacity_provider": ON_DEMAND, "weight": 1},),
            ),
            opts=child,
        )
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-worker",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat(
                "service/", run.cluster.name, "/", self.worker.service.name
            ),
            min_capacity=args.min_tasks,
            max_capacity=args.max_tasks,
            opts=child,
        )
        self.scaling_policy = aws.appautoscaling.Policy(
            f"{name}-backlog-per-task",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": args.backlog_per_task,
                "scale_out_cooldown": SCALE_OUT_COOLDOWN,
                "scale_in_cooldown": SCALE_IN_COOLDOWN,
                "customized_metric_specification": {
                    "metrics": backlog_per_task_metrics(
                        args.task_queue_name, run.cluster.name, self.worker.service.name
                    )
                },
            },
            opts=child,
        )
        self.register_outputs({"worker_service": self.worker.service.name})


def backlog_per_task_metrics(
    queue: pulumi.Input[str], cluster: pulumi.Input[str], service: pulumi.Input[str]
) -> list[MetricQuery]:
    """Visible messages / running tasks (a service at 0 tasks divides by 1)."""
    return [
        {
            "id": "visible",
            "return_data": False,
            "metric_stat": {
                "stat": "Average",
                "metric": {
                    "namespace": "AWS/SQS",
                    "metric_name": "ApproximateNumberOfMessagesVisible",
                    "dimensions": [{"name": "QueueName", "value": queue}],
                },
            },
        },
        {
            "id": "running",
            "return_data": False,
            "metric_stat": {
                "stat": "Average",
                "metric": {
                    "namespace": "ECS/ContainerInsights",
                    "metric_name": "RunningTaskCount",
                    "dimensions": [
                        {"name": "ClusterName", "value": cluster},
                        {"name": "ServiceName", "value": service},
                    ],
                },
            },
        },
        {
            "id": "backlog_per_task",
            "label": "visible messages per running worker task",
            "expression": "visible / IF(running > 1, running, 1)",
            "return_data": True,
        },
    ]
