"""A Fargate service behind a load balancer: the balancer forwards to the container's port."""

from __future__ import annotations

import pytest

from tests.infra.stackmock import run


def _balanced_without_a_port() -> None:
    import pulumi_aws as aws
    from imagepipe_infra.services import FargateService, Runtime, ServiceArgs

    cluster = aws.ecs.Cluster("odd")
    runtime = Runtime(
        cluster=cluster,
        capacity=aws.ecs.ClusterCapacityProviders("odd", cluster_name=cluster.name),
        image="example/imagepipe:1",
        repository_arn=None,
        environment={},
        secrets={},
        subnet_ids=["subnet-1"],
        region="eu-west-1",
        log_retention_days=1,
    )
    group = aws.lb.TargetGroup("odd", port=8000, protocol="HTTP", target_type="ip")
    FargateService(
        "odd",
        ServiceArgs(
            process="web",
            runtime=runtime,
            statements=[],
            security_group=aws.ec2.SecurityGroup("odd"),
            target_group=group,  # and no port
        ),
    )


def test_a_service_behind_a_target_group_without_its_port_is_refused() -> None:
    with pytest.raises(ValueError, match="odd: a target group needs the container's port"):
        run(extra=_balanced_without_a_port)
