"""The Flask API on Fargate behind an HTTPS Application Load Balancer (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from imagepipe_infra import policies
from imagepipe_infra.network import WEB_PORT
from imagepipe_infra.services import FargateService, Runtime, ServiceArgs

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class ApiArgs:
    runtime: Runtime
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    alb_group: aws.ec2.SecurityGroup
    web_group: aws.ec2.SecurityGroup
    certificate_arn: pulumi.Input[str]
    statements: pulumi.Input[Sequence[policies.Statement]]
    more_certificates: Sequence[pulumi.Input[str]] = ()  # other names on the HTTPS listener
    min_tasks: int = 2
    max_tasks: int = 6
    global_accelerator: bool = False


class Api(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:api:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.load_balancer = aws.lb.LoadBalancer(
            name,
            load_balancer_type="application",
            security_groups=[args.alb_group.id],
            subnets=list(args.subnet_ids),
            drop_invalid_header_fields=True,
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-web",
            port=WEB_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=10,  # gunicorn's graceful timeout is 5 s (Procfile)
            health_check={"path": "/health", "matcher": "200", "interval": 15},
            opts=child,
        )
        self.https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=args.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            opts=child,
        )
        for i, arn in enumerate(args.more_certificates):
            aws.lb.ListenerCertificate(
                f"{name}-https-{i}", listener_arn=self.https.arn, certificate_arn=arn, opts=child
            )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                {
                    "type": "redirect",
                    "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"},
                }
            ],
            opts=child,
        )
        self.web = FargateService(
            f"{name}-web",
            ServiceArgs(
                process="web",
                runtime=args.runtime,
                statements=args.statements,
                security_group=args.web_group,
                desired_count=args.min_tasks,
                port=WEB_PORT,
                target_group=self.target_group,
                strategy=({"capacity_provider": "FARGATE", "weight": 1},),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.https]),
        )
        target = aws.appautoscaling.Target(
            f"{name}-web",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat(
                "service/", args.runtime.cluster.name, "/", self.web.service.name
            ),
            min_capacity=args.min_tasks,
            max_capacity=args.max_tasks,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-web-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": 60,
                "predefined_metric_specification": {
                    "predefined_metric_type": "ECSServiceAverageCPUUtilization"
                },
            },
            opts=child,
        )
        self.accelerator_dns: pulumi.Output[str] | None = None
        if args.global_accelerator:
            self.accelerator_dns = self._accelerate(name)
        self.register_outputs({"alb": self.load_balancer.dns_name})

    def _accelerate(self, name: str) -> pulumi.Output[str]:
        """Anycast addresses before the ALB: clients enter AWS's network at the nearest edge."""
        child = pulumi.ResourceOptions(parent=self)
        accelerator = aws.globalaccelerator.Accelerator(
            name, ip_address_type="IPV4", enabled=True, opts=child
        )
        listener = aws.globalaccelerator.Listener(
            name,
            accelerator_arn=accelerator.arn,
            protocol="TCP",
            port_ranges=[{"from_port": 443, "to_port": 443}],
            opts=child,
        )
        aws.globalaccelerator.EndpointGroup(
            name,
            listener_arn=listener.arn,
            endpoint_configurations=[
                {"endpoint_id": self.load_balancer.arn, "client_ip_preservation_enabled": True}
            ],
            opts=child,
        )
        return accelerator.dns_name
