"""Reads behind the forecast: schedule rows in a window and per-type compute estimates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.adapters.tables import (
    average_elapsed_time_per_task_type,
    processor_heartbeats,
    task_schedule,
    task_types,
    tasks,
)
from engine.core.durations import compute_ms_per_type
from engine.core.types import ScheduledRun, TaskKind


def load_scheduled_runs(connection: Connection, start: datetime, end: datetime) -> list[ScheduledRun]:
    """Every schedule row with start <= scheduled_time < end, whatever its status."""
    query = (
        select(task_schedule.c.scheduled_time, tasks.c.task_type)
        .join(tasks, tasks.c.id == task_schedule.c.task_id)
        .where(task_schedule.c.scheduled_time >= start, task_schedule.c.scheduled_time < end)
    )
    return [ScheduledRun(row.scheduled_time, row.task_type) for row in connection.execute(query)]


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
    rows = connection.execute(
        select(processor_heartbeats.c.processor_id).where(processor_heartbeats.c.last_seen_at >= seen_after)
    )
    return len(rows.all())


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
