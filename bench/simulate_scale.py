"""A day of uploads against the worker autoscaling policy: queue age, task count, cost.

    python -m bench.simulate_scale [--images-per-day N] [--cpu-s S] [--peak-factor F] [--spike F]

The model (docs/capacity.md states and prices it):

- arrivals follow a diurnal curve: rate(t) = mean x (1 + a sin(2 pi (t - 9 h) / 24 h)), with
  a = peak factor - 1 (peak at 15:00, trough at 03:00), optionally a spike of `spike` x the rate
  for 15 minutes at 20:00;
- a worker task is a Fargate Spot task of `task_vcpu` vCPU and `task_gb` GB running one Celery
  process per vCPU; it processes `task_vcpu x efficiency / cpu_s` images a second once started
  (efficiency: the share of a process's time spent on CPU rather than waiting for S3 and
  DynamoDB);
- the policy is ECS target tracking on backlog per task (the Celery queue's visible messages,
  one per image in flight, divided by running tasks), evaluated every minute: out at once to
  ceil(running x backlog / target), in by at most 10% a minute after `scale_in_minutes` below
  90% of the target; a new task serves `start_s` after it is asked for (Fargate start and
  image pull); between `min_tasks` and `max_tasks`. Tracking backlog per task holds a standing
  queue of about `target` images per task, so the queue age settles near target / (images a
  second per task): the target is an age budget times a task's rate;
- FIFO: the queue age is the wait of the oldest image not yet started.

A Lambda-per-image design is priced beside it: one invocation per image, duration =
cpu_s / the vCPU share of its memory + `lambda_io_s` for the S3 and DynamoDB round trips,
billed per GB-second and per request; its concurrency is rate x duration.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import deque
from dataclasses import dataclass, field

DAY_S = 24 * 3600
STEP_S = 10.0

# Public list prices, us-east-1, as of the model's writing (docs/capacity.md cites each):
FARGATE_SPOT_VCPU_HOUR = 0.01240  # varies with Spot capacity; Fargate on-demand is 0.04048
FARGATE_SPOT_GB_HOUR = 0.00136  # on-demand 0.004445
LAMBDA_GB_SECOND = 0.0000166667  # x86
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_VCPU_PER_GB = 1 / 1.769  # one full vCPU at 1,769 MB


@dataclass(frozen=True)
class Policy:
    task_vcpu: float = 2.0
    task_gb: float = 4.0
    efficiency: float = 0.85
    target_backlog: float = 30.0  # images waiting per running task
    start_s: float = 60.0
    scale_in_minutes: int = 15
    min_tasks: int = 2
    max_tasks: int = 400


@dataclass(frozen=True)
class Load:
    images_per_day: float = 10_000_000
    cpu_s: float = 0.6  # CPU-seconds per image (docs/benchmarks.md)
    peak_factor: float = 2.0
    spike: float = 1.0  # x the rate for 15 minutes at 20:00
    spike_at_s: float = 20 * 3600

    @property
    def mean_rate(self) -> float:
        return self.images_per_day / DAY_S

    def rate(self, t: float) -> float:
        amplitude = self.peak_factor - 1.0
        base = self.mean_rate * (1 + amplitude * math.sin(2 * math.pi * (t - 9 * 3600) / DAY_S))
        if self.spike_at_s <= t < self.spike_at_s + 900:
            base *= self.spike
        return base


@dataclass
class Result:
    images: float = 0.0
    task_seconds: float = 0.0
    max_tasks: int = 0
    max_age_s: float = 0.0
    ages: list[float] = field(default_factory=list)  # one per step
    tasks: list[int] = field(default_factory=list)
    drain_s: float = 0.0  # after the spike, until the queue age is back under 2 x its median

    def cost(self, policy: Policy) -> float:
        hours = self.task_seconds / 3600
        return hours * (
            policy.task_vcpu * FARGATE_SPOT_VCPU_HOUR + policy.task_gb * FARGATE_SPOT_GB_HOUR
        )

    def percentile_age(self, p: float) -> float:
        ordered = sorted(self.ages)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def task_rate(load: Load, policy: Policy) -> float:
    """Images a second one running task processes."""
    return policy.task_vcpu * policy.efficiency / load.cpu_s


def simulate(load: Load, policy: Policy, step_s: float = STEP_S) -> Result:
    per_task = task_rate(load, policy)
    queue: deque[list[float]] = deque()  # [arrival time, images] cohorts, oldest first
    running = max(policy.min_tasks, math.ceil(load.rate(0) / per_task))
    starting: deque[tuple[float, int]] = deque()  # (ready at, tasks)
    below_since: float | None = None
    result = Result()
    t = 0.0
    while t < DAY_S:
        arrived = load.rate(t) * step_s
        queue.append([t, arrived])
        result.images += arrived
        while starting and starting[0][0] <= t:
            running += starting.popleft()[1]
        capacity = running * per_task * step_s
        while queue and capacity > 0:
            take = min(capacity, queue[0][1])
            queue[0][1] -= take
            capacity -= take
            if queue[0][1] <= 1e-9:
                queue.popleft()
        backlog = sum(c[1] for c in queue)
        age = t - queue[0][0] if queue else 0.0
        result.ages.append(age)
        result.tasks.append(running)
        result.max_age_s = max(result.max_age_s, age)
        result.task_seconds += (running + sum(n for _, n in starting)) * step_s
        if int(t) % 60 == 0:  # the alarm's period
            running, below_since = _scale(t, backlog, running, starting, below_since, policy)
        result.max_tasks = max(result.max_tasks, running)
        t += step_s
    result.drain_s = _drain(result, load, step_s)
    return result


def _scale(  # noqa: PLR0917 - the simulation's state, passed in and handed back
    t: float,
    backlog: float,
    running: int,
    starting: deque[tuple[float, int]],
    below_since: float | None,
    policy: Policy,
) -> tuple[int, float | None]:
    """Target tracking on backlog per task: it sees the queue and the task count, nothing else."""
    pending = sum(n for _, n in starting)
    metric = backlog / max(running, 1)
    desired = min(
        policy.max_tasks, max(policy.min_tasks, math.ceil(running * metric / policy.target_backlog))
    )
    if metric > policy.target_backlog:
        if desired > running + pending:
            starting.append((t + policy.start_s, desired - running - pending))
        return running, None
    if metric < policy.target_backlog * 0.9 and desired < running:
        below_since = t if below_since is None else below_since
        if t - below_since >= policy.scale_in_minutes * 60:
            return max(desired, running - max(1, running // 10)), below_since
        return running, below_since
    return running, None


def _drain(result: Result, load: Load, step_s: float) -> float:
    if load.spike <= 1.0:
        return 0.0
    ordered = sorted(result.ages)
    normal = max(2 * ordered[len(ordered) // 2], 2 * step_s)
    start = int(load.spike_at_s / step_s)
    for i in range(start, len(result.ages)):
        if i > start + 900 / step_s and result.ages[i] <= normal:
            return (i - start) * step_s
    return DAY_S - load.spike_at_s


@dataclass(frozen=True)
class LambdaDesign:
    memory_gb: float = 2.0
    io_s: float = 0.35  # S3 GET of the original, 18 variant PUTs (parallel), catalog writes

    def duration_s(self, load: Load) -> float:
        # Our encodes run two at a time; Lambda gives a vCPU share in proportion to memory.
        vcpu = min(2.0, self.memory_gb * LAMBDA_VCPU_PER_GB)
        return load.cpu_s / vcpu + self.io_s

    def cost_per_image(self, load: Load) -> float:
        return self.duration_s(load) * self.memory_gb * LAMBDA_GB_SECOND + LAMBDA_REQUEST

    def peak_concurrency(self, load: Load) -> float:
        return load.mean_rate * load.peak_factor * load.spike * self.duration_s(load)


def report(load: Load, policy: Policy, result: Result, lam: LambdaDesign) -> list[str]:
    per_1000 = 1000 * result.cost(policy) / result.images
    lambda_1000 = 1000 * lam.cost_per_image(load)
    hourly = []
    per_hour = int(3600 / STEP_S)
    for h in range(24):
        ages = result.ages[h * per_hour : (h + 1) * per_hour]
        tasks = result.tasks[h * per_hour : (h + 1) * per_hour]
        hourly.append(
            f"| {h:02d}:00 | {load.rate(h * 3600 + 1800):.0f} | {sum(tasks) / len(tasks):.1f} "
            f"| {max(ages):.0f} |"
        )
    return [
        f"load: {load.images_per_day:,.0f} images/day, mean {load.mean_rate:.1f}/s, peak factor "
        f"{load.peak_factor}, spike x{load.spike} for 15 min at 20:00, {load.cpu_s} CPU-s/image",
        f"tasks: {policy.task_vcpu:g} vCPU / {policy.task_gb:g} GB Fargate Spot, "
        f"{task_rate(load, policy):.2f} images/s each (efficiency {policy.efficiency}); "
        f"target {policy.target_backlog:g} images waiting per task, start {policy.start_s:g} s",
        "",
        "| hour | arrivals/s | mean tasks | max queue age (s) |",
        "|---|---|---|---|",
        *hourly,
        "",
        f"- images: {result.images:,.0f}; task-hours: {result.task_seconds / 3600:,.0f}; "
        f"most tasks: {result.max_tasks}",
        f"- queue age: median {result.percentile_age(0.5):.1f} s, p99 "
        f"{result.percentile_age(0.99):.1f} s, max {result.max_age_s:.0f} s"
        + (
            f"; the spike drained {result.drain_s / 60:.0f} min after it began"
            if load.spike > 1
            else ""
        ),
        f"- Fargate Spot compute: ${result.cost(policy):,.2f} a day, "
        f"${per_1000:.4f} per 1,000 images",
        f"- Lambda per image ({lam.memory_gb:g} GB, {lam.duration_s(load):.2f} s each): "
        f"${lambda_1000 * result.images / 1000:,.2f} a day, ${lambda_1000:.4f} per 1,000 images "
        f"({lambda_1000 / per_1000:.1f}x); peak concurrency {lam.peak_concurrency(load):,.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate_scale", description=__doc__)
    parser.add_argument("--images-per-day", type=float, default=Load.images_per_day)
    parser.add_argument("--cpu-s", type=float, default=Load.cpu_s)
    parser.add_argument("--peak-factor", type=float, default=Load.peak_factor)
    parser.add_argument("--spike", type=float, default=3.0)
    parser.add_argument("--target-backlog", type=float, default=Policy.target_backlog)
    args = parser.parse_args(argv)
    load = Load(args.images_per_day, args.cpu_s, args.peak_factor, args.spike)
    policy = Policy(target_backlog=args.target_backlog)
    print("\n".join(report(load, policy, simulate(load, policy), LambdaDesign())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
