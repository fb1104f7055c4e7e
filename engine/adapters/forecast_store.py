"""Reads behind the forecast and the summary: schedule rows in a window, counted or one by
one, per-type compute estimates, and the summary view's rows for a window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, func, select
from sqlalchemy.engine import Connection, Row

from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import (
    UTCDateTime,
    average_elapsed_time_per_task_type,
    processor_heartbeats,
    task_schedule,
    task_types,
    tasks,
)
from engine.core.durations import compute_ms_per_type
from engine.core.forecast import require_whole_minutes
from engine.core.policies import OverlapPolicy
from engine.core.types import ScheduledRun, ScheduleStatus, TaskKind


def load_scheduled_runs(connection: Connection, start: datetime, end: datetime) -> list[ScheduledRun]:
    """Every schedule row with start <= scheduled_time < end, whatever its status, one by one
    (what `count_runs_per_minute_and_type` counts in the database). The type is read from the
    row's task, not from the row's copy the count uses, so the two paths check each other."""
    query = (
        select(task_schedule.c.scheduled_time, tasks.c.task_type)
        .join(tasks, tasks.c.id == task_schedule.c.task_id)
        .where(task_schedule.c.scheduled_time >= start, task_schedule.c.scheduled_time < end)
    )
    return [ScheduledRun(row.scheduled_time, row.task_type) for row in connection.execute(query)]


def count_runs_per_minute_and_type(
    connection: Connection, start: datetime, end: datetime
) -> dict[tuple[datetime, str], int]:
    """Schedule rows with start <= scheduled_time < end, whatever their status, counted per
    (UTC minute, task type): what `forecast_from_counts` takes. Both bounds must be whole UTC
    minutes: the counts are kept per minute (`schedule_minute_counts`, 0017)."""
    require_whole_minutes(start, end)
    query = bound_query(connection, "count_runs_per_minute_and_type").columns(
        minute=UTCDateTime(), task_type=Text(), run_count=BigInteger()
    )
    rows = connection.execute(query, {"window_start": start, "window_end": end})
    return {(row.minute, row.task_type): int(row.run_count) for row in rows}


def load_skip_task_fire_times(
    connection: Connection, start: datetime, end: datetime
) -> dict[tuple[int, str], list[datetime]]:
    """The `Scheduled` fire times in [start, end) of tasks with `overlap_policy: skip` and no
    ordering key, per (task id, task type): the rows a forecast may expect to be skipped. A range of the
    partial index of policy rows (task_schedule_policy_due), so tasks without policies cost
    nothing here."""
    s = task_schedule.c
    query = (
        select(s.task_id, s.task_type, s.scheduled_time)
        .join(tasks, tasks.c.id == s.task_id)
        .where(
            s.status == ScheduleStatus.SCHEDULED.value,
            # The bare column, not `IS true`: PostgreSQL proves the partial index's predicate
            # (`policy_claim`) from this form only, and else reads every task (20 ms at 100,000).
            s.policy_claim,
            s.scheduled_time >= start,
            s.scheduled_time < end,
            tasks.c.overlap_policy == OverlapPolicy.SKIP.value,
            tasks.c.ordering_key.is_(None),  # a keyed task's skips: load_serialised_runs
        )
    )
    found: dict[tuple[int, str], list[datetime]] = {}
    for row in connection.execute(query):
        found.setdefault((int(row.task_id), row.task_type), []).append(row.scheduled_time)
    return found


def summarize_scheduled_minutes(connection: Connection, start: datetime, end: datetime) -> list[Row[Any]]:
    """The `scheduled_tasks_summary` view's rows for the minutes in [start, end), ascending;
    both bounds must be whole UTC minutes. Columns: scheduled_time, task_count,
    total_compute_ms, required_instances."""
    require_whole_minutes(start, end)
    query = bound_query(connection, "summarize_scheduled_minutes").columns(
        scheduled_time=UTCDateTime(),
        task_count=BigInteger(),
        total_compute_ms=BigInteger(),
        required_instances=BigInteger(),
    )
    return list(connection.execute(query, {"window_start": start, "window_end": end}))


def load_compute_ms_by_type(connection: Connection) -> dict[str, int]:
    """Per type: the past year's average elapsed ms, or the expected duration without history."""
    expected = {
        row.name: int(row.expected_duration_ms)
        for row in connection.execute(select(task_types.c.name, task_types.c.expected_duration_ms))
    }
    averages = {
        row.task_type: int(row.avg_elapsed_ms)
        for row in connection.execute(select(average_elapsed_time_per_task_type))
    }
    return compute_ms_per_type(expected, averages)


def count_live_processors(connection: Connection, seen_after: datetime) -> int:
    """Processors whose heartbeat is newer than `seen_after`."""
    query = (
        select(func.count())
        .select_from(processor_heartbeats)
        .where(processor_heartbeats.c.last_seen_at >= seen_after)
    )
    return int(connection.execute(query).scalar_one())


def load_schedule_coverage(connection: Connection) -> tuple[int, datetime | None]:
    """How far the Scheduler has gone: the number of active tasks it has not materialised yet,
    and the earliest instant up to which every active cron task has its rows (None without
    materialised cron tasks)."""
    active = tasks.c.active.is_(True)
    unmaterialised = connection.execute(
        select(func.count()).select_from(tasks).where(active, tasks.c.materialized_until.is_(None))
    ).scalar_one()
    covered = connection.execute(
        select(func.min(tasks.c.materialized_until)).where(active, tasks.c.kind == TaskKind.CRON.value)
    ).scalar_one()
    return int(unmaterialised), covered
