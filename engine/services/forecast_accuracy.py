"""Forecast accuracy as the Scheduler, CLI, API, dashboard and notebook use it: snapshots of
the forecast at fixed lead times, and the report comparing them with what ran
(`engine.core.forecast_accuracy` holds the maths)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from engine.adapters.database import read_connection
from engine.adapters.forecast_accuracy_store import (
    TaskUsage,
    load_actual,
    load_snapshots,
    load_task_usage,
    record_snapshot,
)
from engine.adapters.forecast_policy_store import load_dependency_plan, load_serialised_runs
from engine.adapters.forecast_store import (
    count_runs_per_minute_and_type,
    load_compute_ms_by_type,
    load_skip_task_fire_times,
)
from engine.core.forecast import MINUTE, floor_minute
from engine.core.forecast_accuracy import (
    LEADS_MINUTES,
    LeadAccuracy,
    MinuteComparison,
    TypeAccuracy,
    Work,
    by_type,
    compare,
    snapshot_minutes,
    summarize,
)
from engine.core.forecast_policies import counts_with_policies
from engine.core.policies import counts_without_skipped
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS

log = logging.getLogger("headway.forecast_accuracy")

# Minutes that ended at least this long ago are compared: their tasks have had time to run.
SETTLE = timedelta(minutes=2)
MAX_ACCURACY_HOURS = 24 * 31


def take_snapshots(engine: Engine, now: datetime, leads: Iterable[int] = LEADS_MINUTES) -> int:
    """Record the forecast of the minute each lead reaches from `now` (the first snapshot of a
    (minute, lead) stays); the number stored."""
    stored = 0
    with engine.begin() as connection:
        compute = load_compute_ms_by_type(connection)
        for minute, lead in snapshot_minutes(now, leads):
            # A skip task's expected skips chain from the current minute, as in the forecast
            # shown now (engine.services.forecast), so the snapshot records what it says.
            counts = counts_without_skipped(
                count_runs_per_minute_and_type(connection, minute, minute + MINUTE),
                load_skip_task_fire_times(connection, floor_minute(now), minute + MINUTE),
                compute,
            )
            counts = _with_policies(connection, counts, floor_minute(now), minute, compute)
            work = {
                task_type: Work(count, count * compute.get(task_type, 0))
                for (_, task_type), count in counts.items()
            }
            stored += record_snapshot(connection, minute, lead, now, work)
    return stored


def _with_policies(
    connection: Connection,
    counts: Mapping[tuple[datetime, str], int],
    first: datetime,
    minute: datetime,
    compute: Mapping[str, int],
) -> dict[tuple[datetime, str], int]:
    """`counts` of `minute` as the forecast shown from `first` has them, with the `queue`,
    ordering-key and dependency moves (`engine.core.forecast_policies`): those chain from the
    current minute, so without such runs in [first, minute] the counts stay as read, and with
    them the minutes from `first` are read to find what moves into `minute`."""
    end = minute + MINUTE
    serialised, keyed_skip_tasks = load_serialised_runs(connection, first, end)
    dependents, upstream_runs = load_dependency_plan(connection, first, end)
    if not serialised and not upstream_runs:
        return dict(counts)
    window = counts_without_skipped(
        count_runs_per_minute_and_type(connection, first, end),
        load_skip_task_fire_times(connection, first, end),
        compute,
    )
    moved = counts_with_policies(
        window, serialised, upstream_runs, dependents, compute, end, keyed_skip_tasks
    )
    return {key: count for key, count in moved.items() if floor_minute(key[0]) == minute}


class SnapshotStep:
    """Called after each Scheduler pass: takes the snapshots due since the last call (at most
    one write a minute per lead). A failure is logged and does not stop the Scheduler."""

    def __init__(self, engine: Engine, leads: Iterable[int] = LEADS_MINUTES) -> None:
        self._engine = engine
        self._leads = tuple(leads)
        self._done: datetime | None = None

    def __call__(self, now: datetime) -> None:
        minute = floor_minute(now)
        if self._done == minute:
            return
        try:
            take_snapshots(self._engine, now, self._leads)
        except Exception as error:
            log.warning("forecast snapshot failed: %s: %s", error.__class__.__name__, error)
            return
        self._done = minute


@dataclass(frozen=True, slots=True)
class AccuracyReport:
    start: datetime
    end: datetime
    minutes: list[MinuteComparison]
    leads: list[LeadAccuracy]
    types: list[TypeAccuracy]
    tasks: list[TaskUsage]


def accuracy_window(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """[start, end): the whole minutes of `hours` that ended at least SETTLE before `now`.
    At 10:05:30 with 1 hour: 09:03 to 10:03 (its last minute, 10:02, ended 2.5 minutes ago)."""
    end = floor_minute(now - SETTLE)
    return end - timedelta(minutes=int(hours * 60)), end


def accuracy_report(
    engine: Engine,
    now: datetime,
    hours: float = 24,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
) -> AccuracyReport:
    """Forecast against actual for the snapshotted minutes of `accuracy_window(now, hours)`."""
    if not 0 < hours <= MAX_ACCURACY_HOURS:
        raise ValueError(f"hours must be in (0, {MAX_ACCURACY_HOURS}], got {hours}")
    start, end = accuracy_window(now, hours)
    with read_connection(engine) as connection:
        snapshots = load_snapshots(connection, start, end)
        actual = load_actual(connection, start, end)
        tasks = load_task_usage(connection, start, end)
    rows = compare(snapshots, actual, capacity_ms, buffer)
    return AccuracyReport(start, end, rows, summarize(rows), by_type(snapshots, actual), tasks)


def accuracy_document(report: AccuracyReport, minutes: bool = True) -> dict[str, Any]:
    """The report as `headway forecast accuracy --json` prints it and the API returns it."""
    document: dict[str, Any] = {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "leads": [
            {
                "lead_minutes": lead.lead_minutes,
                "minutes": lead.minutes,
                "task_mae": round(lead.task_mae, 3),
                "compute_mae_ms": round(lead.compute_mae_ms, 1),
                "compute_bias_ms": round(lead.compute_bias_ms, 1),
                "compute_error_pct": round(lead.compute_error_pct, 2),
                "instance_mae": round(lead.instance_mae, 3),
                "instance_bias": round(lead.instance_bias, 3),
                "under_forecast_minutes": lead.under_forecast_minutes,
            }
            for lead in report.leads
        ],
        "task_types": [
            {
                "lead_minutes": row.lead_minutes,
                "task_type": row.task_type,
                "forecast_tasks": row.forecast.tasks,
                "actual_tasks": row.actual.tasks,
                "forecast_compute_ms": row.forecast.compute_ms,
                "actual_compute_ms": row.actual.compute_ms,
                "compute_abs_error_ms": row.compute_abs_error_ms,
            }
            for row in report.types
        ],
    }
    if minutes:
        document["minutes"] = [
            {
                "minute": row.minute.isoformat(),
                "lead_minutes": row.lead_minutes,
                "forecast_tasks": row.forecast.tasks,
                "actual_tasks": row.actual.tasks,
                "forecast_compute_ms": row.forecast.compute_ms,
                "actual_compute_ms": row.actual.compute_ms,
                "forecast_instances": row.forecast_instances,
                "needed_instances": row.needed_instances,
            }
            for row in report.minutes
        ]
    return document


@dataclass(frozen=True, slots=True)
class MissDriver:
    """One task over the report's window: what the forecast planned for its rows (its type's
    forecast compute per run at the lead, times its rows due) against what its attempts used."""

    name: str
    task_type: str
    due: int
    ran: int
    attempts: int
    planned_ms: int
    used_ms: int

    @property
    def excess_ms(self) -> int:
        return self.used_ms - self.planned_ms


def miss_drivers(report: AccuracyReport, lead_minutes: int) -> list[MissDriver]:
    """The tasks that drove the misses at `lead_minutes`, largest |excess| first. A type the
    snapshots never saw plans 0 ms a run (its tasks were created after the snapshots).
    Example: a type forecast at 20 runs and 16,000 ms plans 800 ms a run, so a task with 5
    rows due whose attempts used 6,000 ms has an excess of 2,000 ms."""
    per_run = {
        row.task_type: row.forecast.compute_ms / row.forecast.tasks
        for row in report.types
        if row.lead_minutes == lead_minutes and row.forecast.tasks
    }
    drivers = [
        MissDriver(
            task.name,
            task.task_type,
            task.due,
            task.ran,
            task.attempts,
            round(task.due * per_run.get(task.task_type, 0.0)),
            task.compute_ms,
        )
        for task in report.tasks
    ]
    return sorted(drivers, key=lambda driver: (-abs(driver.excess_ms), driver.name))
