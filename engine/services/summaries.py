"""Reads of the two database views behind the scaling formula, for the API and dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from engine.adapters.database import read_connection
from engine.adapters.forecast_store import summarize_scheduled_minutes
from engine.adapters.tables import average_elapsed_time_per_task_type
from engine.core.forecast import ceil_minute, floor_minute

MAX_SUMMARY_HOURS = 168


@dataclass(frozen=True, slots=True)
class MinuteSummary:
    scheduled_time: datetime
    task_count: int
    total_compute_ms: int
    required_instances: int


@dataclass(frozen=True, slots=True)
class TypeSummary:
    task_type: str
    avg_elapsed_ms: int
    run_count: int


def scheduled_summary(engine: Engine, now: datetime, hours: float) -> list[MinuteSummary]:
    """The `scheduled_tasks_summary` view's rows for the minutes in [current minute, current
    minute + hours), ascending: a part minute at the end counts (0.51 h from 10:00 ends with
    10:30). Minutes without schedule rows have no row (the forecast fills them with zeros).

    Read with the view's query restricted to the window's rows, not the view filtered after
    aggregating the whole schedule: the same rows, from an index range."""
    if not 0 < hours <= MAX_SUMMARY_HOURS:
        raise ValueError(f"hours must be in (0, {MAX_SUMMARY_HOURS}], got {hours}")
    start = floor_minute(now)
    end = ceil_minute(start + timedelta(hours=hours))
    with read_connection(engine) as connection:
        return [
            MinuteSummary(
                scheduled_time=row.scheduled_time,
                task_count=int(row.task_count),
                total_compute_ms=int(row.total_compute_ms),
                required_instances=int(row.required_instances),
            )
            for row in summarize_scheduled_minutes(connection, start, end)
        ]


def task_summary(engine: Engine) -> list[TypeSummary]:
    """Per task type with runs in the past year: the average elapsed ms and the run count."""
    view = average_elapsed_time_per_task_type
    with read_connection(engine) as connection:
        return [
            TypeSummary(
                task_type=row.task_type, avg_elapsed_ms=int(row.avg_elapsed_ms), run_count=int(row.run_count)
            )
            for row in connection.execute(select(view).order_by(view.c.task_type))
        ]
