"""Reads behind the operational gauges of `/metrics`: overdue rows, running worker slots and
how far the Scheduler has gone. Each is one indexed aggregate, cheap at any history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.adapters.tables import processor_heartbeats, task_schedule, tasks
from engine.core.types import ScheduleStatus, TaskKind


def count_overdue_rows(connection: Connection, due_before: datetime) -> int:
    """`Scheduled` rows due before `due_before`: nobody has published them (the partial index
    task_schedule_due serves the range)."""
    query = select(func.count()).where(
        task_schedule.c.status == ScheduleStatus.SCHEDULED.value, task_schedule.c.scheduled_time < due_before
    )
    return int(connection.execute(query).scalar_one())


def sum_live_worker_slots(connection: Connection, seen_after: datetime) -> int:
    """Worker slots (concurrency) of the processors whose heartbeat is newer than `seen_after`."""
    query = select(func.coalesce(func.sum(processor_heartbeats.c.concurrency), 0)).where(
        processor_heartbeats.c.last_seen_at >= seen_after
    )
    return int(connection.execute(query).scalar_one())


def earliest_cron_coverage(connection: Connection) -> datetime | None:
    """The instant up to which every active cron task has its rows (None without any)."""
    query = select(func.min(tasks.c.materialized_until)).where(
        tasks.c.active.is_(True), tasks.c.kind == TaskKind.CRON.value
    )
    value: datetime | None = connection.execute(query).scalar_one()
    return value


def oldest_unscheduled_change(connection: Connection) -> datetime | None:
    """When the longest-waiting active task without rows was created or edited (None: the
    Scheduler has picked every task up)."""
    query = select(func.min(tasks.c.updated_at)).where(
        tasks.c.active.is_(True), tasks.c.materialized_until.is_(None)
    )
    value: datetime | None = connection.execute(query).scalar_one()
    return value
