"""The ECS cluster: FARGATE_SPOT by default, a small FARGATE base that Spot cannot take away."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from imagepipe_infra.services import ON_DEMAND, SPOT


@dataclass(frozen=True)
class ClusterArgs:
    fargate_base: int = 1  # tasks always on FARGATE, whatever Spot does


class Cluster(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("imagepipe:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Container Insights publishes RunningTaskCount, the divisor of backlog per task.
        self.cluster = aws.ecs.Cluster(
            name, settings=[{"name": "containerInsights", "value": "enabled"}], opts=child
        )
        self.strategy = spot_strategy(args.fargate_base)
        self.capacity = aws.ecs.ClusterCapacityProviders(
            name,
            cluster_name=self.cluster.name,
            capacity_providers=[ON_DEMAND, SPOT],
            default_capacity_provider_strategies=list(self.strategy),
            opts=child,
        )
        self.register_outputs({"cluster": self.cluster.name})


# The same fields serve a cluster's default strategy and a service's (ServiceArgs.strategy).
def spot_strategy(
    fargate_base: int,
) -> tuple[aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgsDict, ...]:
    return (
        {"capacity_provider": ON_DEMAND, "base": fargate_base, "weight": 0},
        {"capacity_provider": SPOT, "base": 0, "weight": 1},
    )
