"""A small VPC: public subnets in two zones, and the security groups between ALB and tasks.

Tasks get public addresses and reach AWS APIs through the internet gateway: no NAT gateway to
pay for. Nothing reaches a task except the ALB, on the task's own port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

WEB_PORT = 8000  # the Procfile's IMAGEPIPE_PORT default
FLOWER_PORT = 5555  # the Procfile's FLOWER_PORT default
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    availability_zones: Sequence[str]


class Network(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(name, vpc_id=self.vpc.id, opts=child)
        routes = aws.ec2.RouteTable(
            name,
            vpc_id=self.vpc.id,
            routes=[{"cidr_block": ANYWHERE, "gateway_id": gateway.id}],
            opts=child,
        )
        base = args.cidr.split(".")
        self.subnets: list[aws.ec2.Subnet] = []
        for i, zone in enumerate(args.availability_zones):
            subnet = aws.ec2.Subnet(
                f"{name}-{zone}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=f"{base[0]}.{base[1]}.{i * 16}.0/20",
                map_public_ip_on_launch=False,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-{zone}", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            self.subnets.append(subnet)
        self.subnet_ids = [s.id for s in self.subnets]
        egress: list[aws.ec2.SecurityGroupEgressArgsDict] = [
            {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": [ANYWHERE]}
        ]
        self.alb_group = aws.ec2.SecurityGroup(
            f"{name}-alb",
            vpc_id=self.vpc.id,
            description="HTTPS from anywhere (CloudFront, Global Accelerator); HTTP redirects",
            ingress=[
                {"protocol": "tcp", "from_port": p, "to_port": p, "cidr_blocks": [ANYWHERE]}
                for p in (443, 80)
            ],
            egress=egress,
            opts=child,
        )
        self.web_group = self._from_alb(f"{name}-web", WEB_PORT, egress)
        self.flower_group = self._from_alb(f"{name}-flower", FLOWER_PORT, egress)
        self.worker_group = aws.ec2.SecurityGroup(
            f"{name}-workers",
            vpc_id=self.vpc.id,
            description="Workers, ingest and beat: nothing comes in",
            egress=egress,
            opts=child,
        )
        self.register_outputs({"vpc": self.vpc.id})

    def _from_alb(
        self, name: str, port: int, egress: list[aws.ec2.SecurityGroupEgressArgsDict]
    ) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            name,
            vpc_id=self.vpc.id,
            description=f"Port {port} from the load balancer only",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": port,
                    "to_port": port,
                    "security_groups": [self.alb_group.id],
                }
            ],
            egress=egress,
            opts=pulumi.ResourceOptions(parent=self),
        )
