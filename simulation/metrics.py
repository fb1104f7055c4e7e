"""From start times and fleet history to the figures a capacity planner reads. Pure.

`start delay = start - due`, in seconds, where due is the fire time (a `queue` or keyed run
that waited keeps it; an `after` run's is its upstream's end), as the engine's `start_lag_ms`
counts from `scheduled_time`. A task is on time when its delay is at most the
target; the verdict is `pass` only when every task is. Fire times a scheduling policy skips
(`skipped`, by reason) never run: they are neither tasks nor late, and need no compute.
Instance-minutes integrate the provisioned fleet (booting instances included: they are paid
for) from the window start to the later of the window end and the last finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from simulation.arrivals import US_PER_MIN, US_PER_S
from simulation.outcome import Outcome

PERCENTILES = (50, 95, 99)
# The per-minute series follows the fleet draining after the window for at most a day: a fleet
# far too small can take years to drain, and a row per minute of that is no use to anyone.
DRAIN_ROWS = 24 * 60


@dataclass(frozen=True, slots=True)
class DelayStats:
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class Summary:
    tasks: int
    on_time_pct: float
    start_delay_s: DelayStats
    instance_minutes: float
    peak_instances: int
    target_s: float
    verdict: str
    # Fire times expected Skipped, by reason (overlap, coalesced, missed).
    skipped: dict[str, int] = field(default_factory=dict)


def delay_stats(delay_us: np.ndarray) -> DelayStats:
    """Mean, percentiles (linear interpolation) and max, in seconds; zeros without tasks."""
    if len(delay_us) == 0:
        return DelayStats(0.0, 0.0, 0.0, 0.0, 0.0)
    seconds = delay_us / US_PER_S
    p50, p95, p99 = np.percentile(seconds, PERCENTILES)
    return DelayStats(
        float(seconds.mean()), float(p50), float(p95), float(p99), float(seconds.max())
    )


@dataclass(frozen=True, slots=True, eq=False)
class FleetCurve:
    """Provisioned and serving instance counts as step functions over [0, until_us]."""

    until_us: int
    times_us: np.ndarray
    provisioned: np.ndarray
    serving: np.ndarray

    def integral(self, level: np.ndarray, at_us: np.ndarray) -> np.ndarray:
        """Instance-microseconds of `level` from 0 to each of `at_us`."""
        widths = np.diff(np.append(self.times_us, self.until_us))
        cumulative = np.concatenate([[0], np.cumsum(level * widths)])
        return np.interp(at_us, np.append(self.times_us, self.until_us), cumulative)


def fleet_curve(outcome: Outcome, until_us: int) -> FleetCurve:
    """Step functions of the fleet; at equal times retirements count before arrivals."""
    times = np.concatenate([outcome.retired_us, outcome.requested_us, outcome.live_us, [0]])
    order_key = np.concatenate(
        [np.zeros(len(outcome.retired_us)), np.ones(2 * len(outcome.requested_us)), [2]]
    )
    order = np.lexsort((order_key, times))
    provisioned_delta = np.concatenate(
        [
            -np.ones(len(outcome.retired_us)),
            np.ones(len(outcome.requested_us)),
            np.zeros(len(outcome.live_us)),
            [0],
        ]
    )[order]
    serving_delta = np.concatenate(
        [
            -np.ones(len(outcome.retired_us)),
            np.zeros(len(outcome.requested_us)),
            np.ones(len(outcome.live_us)),
            [0],
        ]
    )[order]
    return FleetCurve(
        until_us, times[order], np.cumsum(provisioned_delta), np.cumsum(serving_delta)
    )


def summarize(
    lag_from_us: np.ndarray,
    outcome: Outcome,
    curve: FleetCurve,
    target_s: float,
    skipped: dict[str, int] | None = None,
) -> Summary:
    """Start delays counted from `lag_from_us` (each task's fire time, `Arrivals.lag_from_us`)."""
    delay = outcome.start_us - lag_from_us
    on_time = int(np.count_nonzero(delay <= round(target_s * US_PER_S)))
    tasks = len(delay)
    total = curve.integral(curve.provisioned, np.array([curve.until_us]))[0]
    return Summary(
        tasks=tasks,
        on_time_pct=100.0 * on_time / tasks if tasks else 100.0,
        start_delay_s=delay_stats(delay),
        instance_minutes=float(total / US_PER_MIN),
        peak_instances=int(curve.provisioned.max()),
        target_s=target_s,
        verdict="pass" if on_time == tasks else "fail",
        skipped=dict(skipped or {}),
    )


def pool(summaries: list[Summary], delays_us: list[np.ndarray]) -> Summary:
    """Replications together: tasks and delays pooled, instance-minutes averaged, peak max."""
    delay = np.concatenate(delays_us) if delays_us else np.zeros(0, dtype=np.int64)
    tasks = sum(s.tasks for s in summaries)
    on_time = sum(s.on_time_pct * s.tasks / 100 for s in summaries)
    return Summary(
        tasks=tasks,
        on_time_pct=100.0 * on_time / tasks if tasks else 100.0,
        start_delay_s=delay_stats(delay),
        instance_minutes=float(np.mean([s.instance_minutes for s in summaries])),
        peak_instances=max(s.peak_instances for s in summaries),
        target_s=summaries[0].target_s,
        verdict="pass" if all(s.verdict == "pass" for s in summaries) else "fail",
        skipped={reason: sum(s.skipped.get(reason, 0) for s in summaries) for reason in summaries[0].skipped},
    )


def _per_minute_percentile(
    minute: np.ndarray, values: np.ndarray, minutes: int, q: float
) -> np.ndarray:
    order = np.lexsort((values, minute))
    sorted_values = values[order]
    counts = np.bincount(minute, minlength=minutes)
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    result = np.zeros(minutes)
    has = counts > 0
    position = (counts[has] - 1) * q
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, counts[has] - 1)
    fraction = position - low
    lo_values = sorted_values[firsts[has] + low]
    hi_values = sorted_values[firsts[has] + high]
    result[has] = lo_values + (hi_values - lo_values) * fraction
    return result


def series_minutes(until_us: int, window_minutes: int) -> int:
    """Rows of the per-minute series: to the end of the fleet history, at most DRAIN_ROWS
    past the window. `series_minutes(190 * US_PER_MIN + 1, 180) == 191`."""
    return min(-(-until_us // US_PER_MIN), window_minutes + DRAIN_ROWS)


def minute_series(
    start: datetime,
    minutes: int,
    scheduled_us: np.ndarray,
    outcome: Outcome,
    curve: FleetCurve,
    required: list[int],
    planned_ms: np.ndarray,
    target_levels: np.ndarray,
    target_s: float,
    skipped_us: np.ndarray | None = None,
    lag_from_us: np.ndarray | None = None,
) -> dict[str, list]:
    """One row for each of `minutes` minutes (`series_minutes`): work, instances and delays.

    Tasks, their compute and delays are counted in the minute they were due to start
    (`scheduled_us`, where the capacity rule places their compute), skipped fire times
    (`skipped_us`) in the minute they were due; a delay counts from `lag_from_us` (default
    `scheduled_us`), so a `queue` run moved from :01 to :01:30 counts in :01 with 30 s.
    `required` is the engine formula's count, `target_levels` the rule simulated (level at the
    minute's start), `provided`/`provisioned` the mean serving/paid instances in the minute.
    """
    minute = scheduled_us // US_PER_MIN
    delay_s = (outcome.start_us - (scheduled_us if lag_from_us is None else lag_from_us)) / US_PER_S
    tasks = np.bincount(minute, minlength=minutes)
    compute = np.bincount(minute, weights=planned_ms, minlength=minutes)
    late = np.bincount(minute, weights=delay_s > target_s, minlength=minutes)
    delay_sum = np.bincount(minute, weights=delay_s, minlength=minutes)
    delay_max = np.zeros(minutes)
    np.maximum.at(delay_max, minute, delay_s)
    edges = np.arange(minutes + 1, dtype=np.int64) * US_PER_MIN
    edges[-1] = min(edges[-1], curve.until_us)
    widths = np.diff(edges)
    provided = np.diff(curve.integral(curve.serving, edges)) / widths
    provisioned = np.diff(curve.integral(curve.provisioned, edges)) / widths
    return {
        "minute": [(start + timedelta(minutes=m)).isoformat() for m in range(minutes)],
        "tasks": tasks.tolist(),
        "planned_compute_ms": np.rint(compute).astype(np.int64).tolist(),
        "required_instances": [required[m] if m < len(required) else 0 for m in range(minutes)],
        "target_instances": target_levels[:minutes].tolist(),
        "provided_instances": np.round(provided, 3).tolist(),
        "provisioned_instances": np.round(provisioned, 3).tolist(),
        "late_tasks": late.astype(np.int64).tolist(),
        "delay_mean_s": np.round(np.divide(delay_sum, np.maximum(tasks, 1)), 6).tolist(),
        "delay_p95_s": np.round(_per_minute_percentile(minute, delay_s, minutes, 0.95), 6).tolist(),
        "delay_max_s": np.round(delay_max, 6).tolist(),
        "skipped": np.bincount(
            np.zeros(0, dtype=np.int64) if skipped_us is None else skipped_us // US_PER_MIN,
            minlength=minutes,
        )[:minutes].tolist(),
    }
