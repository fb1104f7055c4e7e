"""One simulation from a workload and a scenario: expand, plan capacity, simulate, measure.

No I/O: the CLI reads files and the database, this module only computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from engine.core.burst_scaling import BurstRule, burst_window_ms
from engine.core.scaling import effective_capacity_ms
from simulation.arrivals import US_PER_MIN, Arrivals, Window, expand
from simulation.capacity import (
    CapacityPlan,
    Limits,
    corrected_targets,
    fixed_plan,
    formula_targets,
    minute_work,
    planned_ms_by_type,
    step_plan,
)
from simulation.fast import simulate_fast
from simulation.metrics import Summary, fleet_curve, minute_series, pool, summarize
from simulation.model_simpy import simulate_simpy
from simulation.outcome import Dispatch, Outcome, release_times
from simulation.workload import Workload


class ProgressSink(Protocol):
    """Where a long run reports: the tasks of each replication, then each batch simulated."""

    def add_total(self, tasks: int) -> None: ...

    def advance(self, tasks: int) -> None: ...


class Engine(StrEnum):
    AUTO = "auto"
    SIMPY = "simpy"
    FAST = "fast"


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything but the workload. `instances` is a count, `formula` or `corrected`."""

    window: Window
    instances: str = "formula"
    capacity_ms: int = 10_000
    buffer: float = 0.10
    limits: Limits = field(default_factory=Limits)
    dispatch: Dispatch = field(default_factory=Dispatch)
    target_s: float = 10.0
    tail_z: float = 2.0
    seed: int = 0
    replications: int = 1
    engine: Engine = Engine.AUTO

    def __post_init__(self) -> None:
        named = self.instances in ("formula", "corrected")
        if not named and (not self.instances.isdigit() or int(self.instances) < 1):
            raise ValueError("instances must be a positive count, formula or corrected")
        if self.limits.min_instances < 1:
            raise ValueError("min_instances must be at least 1: queued work needs an instance")
        if (
            self.limits.max_instances is not None
            and self.limits.max_instances < self.limits.min_instances
        ):
            raise ValueError("max_instances must be at least min_instances")
        if self.dispatch.prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        if self.engine is Engine.FAST and self.dispatch.prefetch != 1:
            raise ValueError("the fast path is exact only for prefetch 1; use --engine simpy")
        if self.replications < 1:
            raise ValueError("replications must be at least 1")
        if self.target_s <= 0:
            raise ValueError("target_s must be positive")
        dispatch = self.dispatch
        if min(dispatch.poll_interval_us, dispatch.overhead_us, dispatch.scale_up_lag_us) < 0:
            raise ValueError("poll interval, dispatch overhead and scale-up lag must be >= 0")
        effective_capacity_ms(self.capacity_ms, self.buffer)  # raises on a bad pair
        if self.instances == "corrected":
            burst_window_ms(self.rule)  # raises when the target leaves no window

    @property
    def engine_used(self) -> Engine:
        if self.engine is Engine.AUTO:
            return Engine.FAST if self.dispatch.prefetch == 1 else Engine.SIMPY
        return self.engine

    @property
    def rule(self) -> BurstRule:
        return BurstRule(
            target_ms=round(self.target_s * 1_000),
            capacity_ms=self.capacity_ms,
            buffer=self.buffer,
            poll_interval_ms=self.dispatch.poll_interval_us / 1_000,
            dispatch_overhead_ms=self.dispatch.overhead_us / 1_000,
            z=self.tail_z,
        )


@dataclass(frozen=True, slots=True)
class Replication:
    seed: int
    summary: Summary
    series: dict[str, list]


@dataclass(frozen=True, slots=True)
class Result:
    summary: Summary
    replications: tuple[Replication, ...]
    engine: Engine


def capacity_plan(
    workload: Workload, arrivals: Arrivals, scenario: Scenario
) -> tuple[CapacityPlan, list[int]]:
    """The plan simulated, and the engine formula's per-minute count (always, to compare)."""
    planned = planned_ms_by_type(workload.types, arrivals.type_names)
    _, compute_ms = minute_work(arrivals, planned, scenario.window.minutes)
    required = formula_targets(compute_ms, scenario.capacity_ms, scenario.buffer)
    if scenario.instances == "formula":
        return step_plan(required, scenario.window.minutes, scenario.limits), required
    if scenario.instances == "corrected":
        levels = corrected_targets(arrivals, workload.types, scenario.window.minutes, scenario.rule)
        lag_us = scenario.dispatch.scale_up_lag_us
        return step_plan(levels, scenario.window.minutes, scenario.limits, lag_us), required
    return fixed_plan(int(scenario.instances)), required


def simulate_arrivals(
    arrivals: Arrivals,
    plan: CapacityPlan,
    scenario: Scenario,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    dispatch = scenario.dispatch
    release = release_times(arrivals.scheduled_us, dispatch.poll_interval_us)
    if scenario.engine_used is Engine.FAST:
        return simulate_fast(
            release,
            arrivals.duration_us,
            plan,
            dispatch.scale_up_lag_us,
            dispatch.overhead_us,
            scenario.window.length_us,
            progress,
        )
    return simulate_simpy(
        release,
        arrivals.duration_us,
        plan,
        dispatch.scale_up_lag_us,
        dispatch.overhead_us,
        dispatch.prefetch,
        scenario.window.length_us,
        progress,
    )


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Independent seeds per replication, derived from `seed` (NumPy SeedSequence)."""
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(child.generate_state(1)[0]) for child in children]


def simulate(
    workload: Workload,
    scenario: Scenario,
    progress: ProgressSink | None = None,
) -> Result:
    """Run every replication and pool them (`simulation.metrics.pool`)."""
    replications = []
    delays = []
    for seed in replication_seeds(scenario.seed, scenario.replications):
        arrivals = expand(workload, scenario.window, np.random.default_rng(seed))
        plan, required = capacity_plan(workload, arrivals, scenario)
        if progress is not None:
            progress.add_total(len(arrivals))
        advance = progress.advance if progress is not None else None
        outcome = simulate_arrivals(arrivals, plan, scenario, advance)
        last_finish = int((outcome.start_us + arrivals.duration_us).max()) if len(arrivals) else 0
        curve = fleet_curve(outcome, max(scenario.window.length_us, last_finish))
        summary = summarize(arrivals.scheduled_us, outcome, curve, scenario.target_s)
        edges = np.arange(-(-curve.until_us // US_PER_MIN), dtype=np.int64) * US_PER_MIN
        levels = plan.targets[np.searchsorted(plan.times_us, edges, side="right") - 1]
        planned = planned_ms_by_type(workload.types, arrivals.type_names)[arrivals.type_ids]
        series = minute_series(
            scenario.window.start,
            arrivals.scheduled_us,
            outcome,
            curve,
            required,
            planned,
            levels,
            scenario.target_s,
        )
        delays.append(outcome.start_us - arrivals.scheduled_us)
        replications.append(Replication(seed, summary, series))
    pooled = pool([r.summary for r in replications], delays)
    return Result(pooled, tuple(replications), scenario.engine_used)
