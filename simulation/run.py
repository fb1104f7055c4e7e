"""One simulation from a workload and a scenario: expand, plan capacity, simulate, measure.

No I/O: the CLI reads files and the database, this module only computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

import numpy as np

from engine.core.burst_scaling import BurstRule, burst_window_ms
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
from simulation.limits import (
    MAX_INSTANCES,
    MAX_SECONDS,
    LimitExceeded,
    ScenarioError,
    check_within,
)
from simulation.metrics import (
    Summary,
    fleet_curve,
    minute_series,
    pool,
    series_minutes,
    summarize,
)
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
        """Check every value; a bad one raises ScenarioError naming its field."""
        self._check_fleet()
        if self.engine is Engine.FAST and self.dispatch.prefetch != 1:
            raise ScenarioError("engine", "the fast path is exact only for prefetch 1; use simpy")
        fixed = self.instances not in ("formula", "corrected")
        if self.engine is Engine.FAST and self.dispatch.concurrency > 1 and not fixed:
            raise ScenarioError(
                "engine",
                "the fast path takes concurrency > 1 with a fixed fleet only; use simpy",
            )
        if self.replications < 1:
            raise ScenarioError("replications", f"must be at least 1, got {self.replications}")
        if self.seed < 0:
            raise ScenarioError("seed", f"must be 0 or more, got {self.seed}")
        check_within("target_s", self.target_s, MAX_SECONDS, "s", positive=True)
        check_within("tail_z", self.tail_z, 10, "standard deviations")
        dispatch = self.dispatch
        check_within("poll_interval_s", dispatch.poll_interval_us / 1e6, MAX_SECONDS, "s")
        check_within("dispatch_overhead_ms", dispatch.overhead_us / 1e3, MAX_SECONDS * 1e3, "ms")
        check_within("scale_up_lag_s", dispatch.scale_up_lag_us / 1e6, MAX_SECONDS, "s")
        check_within("release_delay_ms", dispatch.release_delay_us / 1e3, MAX_SECONDS * 1e3, "ms")
        if dispatch.prefetch < 1:
            raise ScenarioError("prefetch", f"must be at least 1, got {dispatch.prefetch}")
        if not isinstance(self.capacity_ms, int) or self.capacity_ms < 1:
            raise ScenarioError("capacity_ms", f"must be a whole number >= 1, got {self.capacity_ms}")
        if not (math.isfinite(self.buffer) and 0 <= self.buffer < 1):
            raise ScenarioError("buffer", f"must be in [0, 1), got {self.buffer}")
        if self.instances == "corrected":
            try:
                burst_window_ms(self.rule)
            except ValueError as error:
                raise ScenarioError(
                    "target_s",
                    f"{self.target_s:g} s leaves no time to start a burst after the "
                    f"{dispatch.poll_interval_us / 1e6:g} s poll and the "
                    f"{dispatch.overhead_us / 1e3:g} ms dispatch overhead",
                ) from error

    def _check_fleet(self) -> None:
        low, high = self.limits.min_instances, self.limits.max_instances
        if not 1 <= low <= MAX_INSTANCES:
            raise ScenarioError(
                "min_instances",
                f"must be in [1, {MAX_INSTANCES:,}] (queued work needs an instance), got {low}",
            )
        if high is not None and not low <= high <= MAX_INSTANCES:
            raise ScenarioError(
                "max_instances", f"must be in [min_instances = {low}, {MAX_INSTANCES:,}], got {high}"
            )
        if self.instances in ("formula", "corrected"):
            return
        if not (self.instances.isascii() and self.instances.isdigit()):
            raise ScenarioError(
                "instances", f"must be a count, formula or corrected, got {self.instances!r}"
            )
        count = int(self.instances)
        if not 1 <= count <= MAX_INSTANCES:
            raise ScenarioError("instances", f"must be in [1, {MAX_INSTANCES:,}], got {count}")
        if count < low or (high is not None and count > high):
            raise ScenarioError(
                "instances",
                f"a fixed fleet of {count} contradicts min_instances {low} / max_instances "
                f"{high if high is not None else 'none'}, which bound formula and corrected",
            )

    @property
    def engine_used(self) -> Engine:
        """The engine that runs this scenario: the fast path where it is exact (prefetch 1,
        and one slot per instance unless the fleet is fixed), else SimPy."""
        if self.engine is not Engine.AUTO:
            return self.engine
        fast = self.dispatch.prefetch == 1 and (
            self.dispatch.concurrency == 1 or self.instances not in ("formula", "corrected")
        )
        return Engine.FAST if fast else Engine.SIMPY

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
        _check_levels(required, scenario)
        return step_plan(required, scenario.window.minutes, scenario.limits), required
    if scenario.instances == "corrected":
        levels = corrected_targets(arrivals, workload.types, scenario.window.minutes, scenario.rule)
        _check_levels(levels, scenario)
        lag_us = scenario.dispatch.scale_up_lag_us
        return step_plan(levels, scenario.window.minutes, scenario.limits, lag_us), required
    return fixed_plan(int(scenario.instances)), required


def _check_levels(levels: list[int], scenario: Scenario) -> None:
    """Refuse a rule that asks for more than MAX_INSTANCES at once, unless max_instances caps it."""
    if scenario.limits.max_instances is not None or not levels or max(levels) <= MAX_INSTANCES:
        return
    minute = max(range(len(levels)), key=levels.__getitem__)
    when = scenario.window.start + timedelta(minutes=minute)
    raise LimitExceeded(
        f"{scenario.instances} asks for {levels[minute]:,} instances at {when:%Y-%m-%d %H:%M} "
        f"UTC; a run holds at most {MAX_INSTANCES:,}: set --max-instances or check the durations"
    )


def simulate_arrivals(
    arrivals: Arrivals,
    plan: CapacityPlan,
    scenario: Scenario,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    dispatch = scenario.dispatch
    immediate = arrivals.immediate
    release = release_times(
        arrivals.scheduled_us,
        dispatch.poll_interval_us,
        dispatch.release_delay_us,
        immediate if immediate is not None else np.zeros(len(arrivals), dtype=bool),
    )
    durations, extra = arrivals.duration_us, arrivals.retries.extra_us
    order = None
    if len(release) > 1 and bool(np.any(np.diff(release) < 0)):
        # Immediate tasks polled later than scheduled ones due after them: the broker's queue
        # is in release order.
        order = np.argsort(release, kind="stable")
        release, durations = release[order], durations[order]
        if extra:
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            extra = {int(rank[task]): runs for task, runs in extra.items()}
    if scenario.engine_used is Engine.FAST:
        outcome = simulate_fast(
            release, durations, plan, dispatch, scenario.window.length_us, progress, extra
        )
    else:
        outcome = simulate_simpy(
            release, durations, plan, dispatch, scenario.window.length_us, progress, extra
        )
    if order is None:
        return outcome
    start_us = np.empty_like(outcome.start_us)
    start_us[order] = outcome.start_us
    return replace(outcome, start_us=start_us)


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
        backoff_ms = (scenario.dispatch.retry_base_ms, scenario.dispatch.retry_max_ms)
        arrivals = expand(workload, scenario.window, np.random.default_rng(seed), backoff_ms)
        plan, required = capacity_plan(workload, arrivals, scenario)
        if progress is not None:
            progress.add_total(len(arrivals))
        advance = progress.advance if progress is not None else None
        outcome = simulate_arrivals(arrivals, plan, scenario, advance)
        curve = fleet_curve(outcome, max(scenario.window.length_us, outcome.last_finish_us))
        skipped = arrivals.skips.counts()
        summary = summarize(arrivals.lag_from_us, outcome, curve, scenario.target_s, skipped)
        rows = series_minutes(curve.until_us, scenario.window.minutes)
        edges = np.arange(rows, dtype=np.int64) * US_PER_MIN
        levels = plan.targets[np.searchsorted(plan.times_us, edges, side="right") - 1]
        planned = planned_ms_by_type(workload.types, arrivals.type_names)[arrivals.type_ids]
        series = minute_series(
            scenario.window.start,
            rows,
            arrivals.scheduled_us,
            outcome,
            curve,
            required,
            planned,
            levels,
            scenario.target_s,
            arrivals.skips.due_us,
            arrivals.lag_from_us,
        )
        delays.append(outcome.start_us - arrivals.lag_from_us)
        replications.append(Replication(seed, summary, series))
    pooled = pool([r.summary for r in replications], delays)
    return Result(pooled, tuple(replications), scenario.engine_used)
