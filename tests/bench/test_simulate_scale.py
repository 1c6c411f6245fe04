"""The autoscaling model behind docs/capacity.md: it scales with the load and prices what runs."""

from __future__ import annotations

import pytest

from bench.simulate_scale import (
    FARGATE_SPOT_GB_HOUR,
    FARGATE_SPOT_VCPU_HOUR,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    STEP_S,
    LambdaDesign,
    Load,
    Policy,
    simulate,
    task_rate,
)

POLICY = Policy()
PER_HOUR = int(3600 / STEP_S)


def test_a_steady_load_holds_about_target_images_per_task() -> None:
    load = Load(images_per_day=2_000_000, cpu_s=0.6, peak_factor=1.0)
    result = simulate(load, POLICY)
    needed = load.mean_rate / task_rate(load, POLICY)
    settled = result.tasks[PER_HOUR * 12 :]
    mean = sum(settled) / len(settled)
    assert needed <= mean <= 2 * needed + POLICY.min_tasks
    # Target tracking on backlog per task keeps a standing queue of ~target per task.
    budget = POLICY.target_backlog / task_rate(load, POLICY)
    assert result.percentile_age(0.99) <= budget + 2 * STEP_S


def test_tasks_follow_the_diurnal_curve() -> None:
    result = simulate(Load(images_per_day=10_000_000, peak_factor=2.0), POLICY)
    night = result.tasks[3 * PER_HOUR : 4 * PER_HOUR]
    afternoon = result.tasks[15 * PER_HOUR : 16 * PER_HOUR]
    assert max(night) < min(afternoon) / 5


def test_a_spike_scales_out_and_drains() -> None:
    calm = simulate(Load(spike=1.0), POLICY)
    spike = simulate(Load(spike=3.0), POLICY)
    assert spike.max_tasks > calm.max_tasks
    assert spike.max_age_s > calm.max_age_s
    assert 0 < spike.drain_s < 3600


def test_cost_is_task_hours_at_the_spot_price() -> None:
    result = simulate(Load(images_per_day=1_000_000, peak_factor=1.0), POLICY)
    hours = result.task_seconds / 3600
    assert result.cost(POLICY) == pytest.approx(
        hours * (2 * FARGATE_SPOT_VCPU_HOUR + 4 * FARGATE_SPOT_GB_HOUR)
    )
    assert result.images == pytest.approx(1_000_000, rel=0.01)


def test_lambda_is_billed_per_gb_second_and_request() -> None:
    lam = LambdaDesign(memory_gb=1.769, io_s=0.5)
    load = Load(cpu_s=1.0)
    assert lam.duration_s(load) == pytest.approx(1.5)
    assert lam.cost_per_image(load) == pytest.approx(
        1.5 * 1.769 * LAMBDA_GB_SECOND + LAMBDA_REQUEST
    )
