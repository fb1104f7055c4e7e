"""Forecast accuracy: what the forecast said for a minute at fixed lead times, against what
happened in it. Pure: callers pass `now` and the rows in.

A snapshot of minute M at lead L is taken by the first step at an instant `now` with
`floor_minute(now + L) == M`, so it is the forecast from between L - 1 and L minutes before M
(`snapshot_minutes`). What happened in M: the schedule rows due in it that ran (at least one
attempt), and the compute all their attempts used; the instances needed in hindsight are the
formula's `required_instances` of that compute. Errors are forecast minus actual: positive
means the forecast planned more than was used.

Example: at lead 60 the forecast said 20 `report` runs of 450 ms (9,000 ms, 1 instance); 22
ran and used 10,340 ms, which needs 2: task error -2, compute error -1,340 ms, instance
error -1 (an under-forecast minute).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.forecast import floor_minute
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS, required_instances

LEADS_MINUTES = (180, 60, 10)


def snapshot_minutes(now: datetime, leads: Iterable[int] = LEADS_MINUTES) -> list[tuple[datetime, int]]:
    """(minute, lead) pairs a snapshot step at `now` records: the minute each lead reaches.
    `snapshot_minutes(10:00:30, [60, 10])` is [(11:00, 60), (10:10, 10)]."""
    return [(floor_minute(now + timedelta(minutes=lead)), lead) for lead in leads]


@dataclass(frozen=True, slots=True)
class Work:
    """Tasks and compute of one minute (and one type, where keyed so)."""

    tasks: int = 0
    compute_ms: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(self.tasks + other.tasks, self.compute_ms + other.compute_ms)


@dataclass(frozen=True, slots=True)
class MinuteComparison:
    minute: datetime
    lead_minutes: int
    forecast: Work
    actual: Work
    forecast_instances: int
    needed_instances: int

    @property
    def task_error(self) -> int:
        return self.forecast.tasks - self.actual.tasks

    @property
    def compute_error_ms(self) -> int:
        return self.forecast.compute_ms - self.actual.compute_ms

    @property
    def instance_error(self) -> int:
        return self.forecast_instances - self.needed_instances


def compare(
    snapshots: Mapping[tuple[datetime, int], Mapping[str, Work]],
    actual: Mapping[datetime, Mapping[str, Work]],
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
) -> list[MinuteComparison]:
    """One comparison per snapshot `(minute, lead)` (an empty mapping: the forecast said
    nothing would run), ordered by minute then lead, largest first. A minute missing from
    `actual` had nothing run."""
    rows = []
    for (minute, lead), by_type in sorted(snapshots.items(), key=lambda item: (item[0][0], -item[0][1])):
        forecast = sum(by_type.values(), Work())
        happened = sum(actual.get(minute, {}).values(), Work())
        rows.append(
            MinuteComparison(
                minute,
                lead,
                forecast,
                happened,
                required_instances(forecast.compute_ms, capacity_ms, buffer),
                required_instances(happened.compute_ms, capacity_ms, buffer),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class LeadAccuracy:
    """Over the minutes snapshotted at one lead: mean absolute errors, the bias (mean error),
    the compute error as a share of the compute used, and the minutes the forecast asked for
    fewer instances than were needed."""

    lead_minutes: int
    minutes: int
    task_mae: float
    compute_mae_ms: float
    compute_bias_ms: float
    compute_error_pct: float
    instance_mae: float
    instance_bias: float
    under_forecast_minutes: int


def summarize(rows: Iterable[MinuteComparison]) -> list[LeadAccuracy]:
    """Per lead, longest first. `compute_error_pct` is sum |error| / sum actual x 100 (0 when
    nothing ran)."""
    by_lead: dict[int, list[MinuteComparison]] = defaultdict(list)
    for row in rows:
        by_lead[row.lead_minutes].append(row)
    summary = []
    for lead in sorted(by_lead, reverse=True):
        group = by_lead[lead]
        n = len(group)
        used = sum(row.actual.compute_ms for row in group)
        absolute = sum(abs(row.compute_error_ms) for row in group)
        summary.append(
            LeadAccuracy(
                lead_minutes=lead,
                minutes=n,
                task_mae=sum(abs(row.task_error) for row in group) / n,
                compute_mae_ms=absolute / n,
                compute_bias_ms=sum(row.compute_error_ms for row in group) / n,
                compute_error_pct=100 * absolute / used if used else 0.0,
                instance_mae=sum(abs(row.instance_error) for row in group) / n,
                instance_bias=sum(row.instance_error for row in group) / n,
                under_forecast_minutes=sum(1 for row in group if row.instance_error < 0),
            )
        )
    return summary


@dataclass(frozen=True, slots=True)
class TypeAccuracy:
    """One task type at one lead, over the snapshotted minutes: forecast and actual totals,
    and the sum of its absolute compute errors per minute (its share of the misses)."""

    lead_minutes: int
    task_type: str
    forecast: Work
    actual: Work
    compute_abs_error_ms: int


def by_type(
    snapshots: Mapping[tuple[datetime, int], Mapping[str, Work]],
    actual: Mapping[datetime, Mapping[str, Work]],
) -> list[TypeAccuracy]:
    """Per (lead, type), largest absolute compute error first within each lead."""
    forecasts: dict[tuple[int, str], Work] = defaultdict(Work)
    happenings: dict[tuple[int, str], Work] = defaultdict(Work)
    errors: dict[tuple[int, str], int] = defaultdict(int)
    for (minute, lead), forecast_types in snapshots.items():
        happened_types = actual.get(minute, {})
        for task_type in set(forecast_types) | set(happened_types):
            key = (lead, task_type)
            forecast = forecast_types.get(task_type, Work())
            happened = happened_types.get(task_type, Work())
            forecasts[key] += forecast
            happenings[key] += happened
            errors[key] += abs(forecast.compute_ms - happened.compute_ms)
    rows = [
        TypeAccuracy(lead, task_type, forecasts[key], happenings[key], errors[key])
        for key in errors
        for lead, task_type in [key]
    ]
    return sorted(rows, key=lambda row: (-row.lead_minutes, -row.compute_abs_error_ms, row.task_type))
