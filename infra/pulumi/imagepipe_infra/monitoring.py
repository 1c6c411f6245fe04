"""Flower (private, behind Cognito on the load balancer), alarms and a dashboard."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from imagepipe_infra import policies
from imagepipe_infra.network import FLOWER_PORT
from imagepipe_infra.services import ON_DEMAND, FargateService, Runtime, ServiceArgs

PERIOD = 60
WORKER_ERRORS = "WorkerErrors"
NAMESPACE = "imagepipe"


@dataclass(frozen=True)
class MonitoringArgs:
    runtime: Runtime
    vpc_id: pulumi.Input[str]
    flower_group: aws.ec2.SecurityGroup
    flower_statements: pulumi.Input[Sequence[policies.Statement]]
    https_listener: aws.lb.Listener
    flower_domain: str
    user_pool_arn: pulumi.Input[str]
    user_pool_client_id: pulumi.Input[str]
    user_pool_domain: pulumi.Input[str]
    queues: Sequence[aws.sqs.Queue]  # each watched for its oldest message
    dead_letter_queues: Sequence[aws.sqs.Queue]  # each must stay empty
    load_balancer_suffix: pulumi.Input[str]
    worker_log_group: aws.cloudwatch.LogGroup
    alarm_email: str | None = None
    oldest_message_seconds: int = 900
    max_5xx_percent: float = 1.0


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._flower(name, args)
        self.topic = aws.sns.Topic(f"{name}-alarms", opts=child)
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=child,
            )
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        for i, dlq in enumerate(args.dead_letter_queues):
            self._sqs_alarm(f"{name}-dlq-{i}", dlq, "ApproximateNumberOfMessagesVisible", 0)
        for i, queue in enumerate(args.queues):
            self._sqs_alarm(
                f"{name}-oldest-{i}",
                queue,
                "ApproximateAgeOfOldestMessage",
                args.oldest_message_seconds,
            )
        self._five_xx(name, args)
        self._worker_errors(name, args)
        self.dashboard = aws.cloudwatch.Dashboard(
            name,
            dashboard_name=name,
            dashboard_body=pulumi.Output.all(
                [q.name for q in args.queues],
                [q.name for q in args.dead_letter_queues],
                args.load_balancer_suffix,
            ).apply(lambda a: json.dumps(_dashboard(a[0], a[1], a[2], args.runtime.region))),
            opts=child,
        )
        self.register_outputs({"dashboard": self.dashboard.dashboard_name})

    def _flower(self, name: str, args: MonitoringArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.lb.TargetGroup(
            f"{name}-flower",
            port=FLOWER_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            health_check={"path": "/healthcheck", "matcher": "200"},
            opts=child,
        )
        # Nothing reaches Flower without a Cognito sign-in: the rule authenticates, then forwards.
        self.flower_rule = aws.lb.ListenerRule(
            f"{name}-flower",
            listener_arn=args.https_listener.arn,
            priority=10,
            conditions=[{"host_header": {"values": [args.flower_domain]}}],
            actions=[
                {
                    "type": "authenticate-cognito",
                    "order": 1,
                    "authenticate_cognito": {
                        "user_pool_arn": args.user_pool_arn,
                        "user_pool_client_id": args.user_pool_client_id,
                        "user_pool_domain": args.user_pool_domain,
                        "on_unauthenticated_request": "authenticate",
                    },
                },
                {"type": "forward", "order": 2, "target_group_arn": group.arn},
            ],
            opts=child,
        )
        self.flower = FargateService(
            f"{name}-flower",
            ServiceArgs(
                process="flower",
                runtime=args.runtime,
                statements=args.flower_statements,
                security_group=args.flower_group,
                cpu=256,
                memory=512,
                port=FLOWER_PORT,
                target_group=group,
                strategy=({"capacity_provider": ON_DEMAND, "weight": 1},),
                # The load balancer reaches the task's own address, not its loopback; Flower
                # then asks for its login (FLOWER_BASIC_AUTH) after the Cognito sign-in.
                environment={"FLOWER_HOST": "0.0.0.0"},  # noqa: S104 - the ALB's group only
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.flower_rule]),
        )

    def _alarm(self, name: str, **kwargs: Any) -> aws.cloudwatch.MetricAlarm:
        alarm = aws.cloudwatch.MetricAlarm(
            name,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            evaluation_periods=kwargs.pop("evaluation_periods", 1),
            treat_missing_data=kwargs.pop("treat_missing_data", "notBreaching"),
            opts=pulumi.ResourceOptions(parent=self),
            **kwargs,
        )
        self.alarms.append(alarm)
        return alarm

    def _sqs_alarm(self, name: str, queue: aws.sqs.Queue, metric: str, threshold: float) -> None:
        self._alarm(
            name,
            namespace="AWS/SQS",
            metric_name=metric,
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            period=PERIOD * 5,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
        )

    def _five_xx(self, name: str, args: MonitoringArgs) -> None:
        def alb(metric: str) -> dict[str, Any]:
            return {
                "namespace": "AWS/ApplicationELB",
                "metric_name": metric,
                "dimensions": {"LoadBalancer": args.load_balancer_suffix},
                "period": PERIOD * 5,
                "stat": "Sum",
            }

        self._alarm(
            f"{name}-api-5xx-rate",
            comparison_operator="GreaterThanThreshold",
            threshold=args.max_5xx_percent,
            evaluation_periods=2,
            metric_queries=[
                {"id": "errors", "metric": alb("HTTPCode_Target_5XX_Count")},
                {"id": "requests", "metric": alb("RequestCount")},
                {
                    "id": "rate",
                    "expression": "100 * errors / IF(requests > 0, requests, 1)",
                    "label": "5xx percent",
                    "return_data": True,
                },
            ],
        )

    def _worker_errors(self, name: str, args: MonitoringArgs) -> None:
        # Celery logs a failed task as `Task <name>[<id>] raised unexpected: ...` at ERROR.
        aws.cloudwatch.LogMetricFilter(
            f"{name}-worker-errors",
            log_group_name=args.worker_log_group.name,
            pattern='"ERROR"',
            metric_transformation={
                "name": WORKER_ERRORS,
                "namespace": NAMESPACE,
                "value": "1",
                "default_value": "0",
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._alarm(
            f"{name}-worker-errors",
            namespace=NAMESPACE,
            metric_name=WORKER_ERRORS,
            statistic="Sum",
            period=PERIOD * 5,
            comparison_operator="GreaterThanThreshold",
            threshold=5,
        )


def _dashboard(queues: list[str], dlqs: list[str], alb: str, region: str) -> dict[str, Any]:
    def widget(title: str, metrics: list[list[Any]], y: int) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": 0,
            "y": y,
            "width": 24,
            "height": 6,
            "properties": {"title": title, "region": region, "metrics": metrics, "period": 60},
        }

    return {
        "widgets": [
            widget(
                "Queue depth",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in queues],
                0,
            ),
            widget(
                "Dead letters",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in dlqs],
                6,
            ),
            widget(
                "API",
                [
                    ["AWS/ApplicationELB", m, "LoadBalancer", alb]
                    for m in ("RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime")
                ],
                12,
            ),
            widget("Worker errors", [[NAMESPACE, WORKER_ERRORS]], 18),
        ]
    }
