"""Forecast snapshots in and out, and what ran per minute, type and task, for forecast accuracy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Engine, Integer, Text, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime, forecast_snapshot_minutes, forecast_snapshots
from engine.core.forecast_accuracy import Work


def record_snapshot(
    connection: Connection,
    minute: datetime,
    lead_minutes: int,
    taken_at: datetime,
    by_type: Mapping[str, Work],
) -> bool:
    """Store what the forecast says for `minute` at `lead_minutes`, unless that snapshot
    exists (the first one taken stays). True when this call stored it."""
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
    stored = connection.execute(
        insert(forecast_snapshot_minutes)
        .values(minute=minute, lead_minutes=lead_minutes, taken_at=taken_at)
        .on_conflict_do_nothing(index_elements=["minute", "lead_minutes"])
        .returning(forecast_snapshot_minutes.c.lead_minutes)
    ).first()
    if stored is None:
        return False
    rows = [
        {
            "minute": minute,
            "lead_minutes": lead_minutes,
            "task_type": task_type,
            "task_count": work.tasks,
            "compute_ms": work.compute_ms,
        }
        for task_type, work in sorted(by_type.items())
        if work.tasks > 0
    ]
    if rows:
        connection.execute(forecast_snapshots.insert(), rows)
    return True


def load_snapshots(
    connection: Connection, start: datetime, end: datetime
) -> dict[tuple[datetime, int], dict[str, Work]]:
    """Every snapshot of the minutes in [start, end), by (minute, lead), each its work per type
    (empty: the forecast said nothing would run)."""
    snapshots: dict[tuple[datetime, int], dict[str, Work]] = {}
    minutes = connection.execute(
        select(forecast_snapshot_minutes.c.minute, forecast_snapshot_minutes.c.lead_minutes).where(
            forecast_snapshot_minutes.c.minute >= start, forecast_snapshot_minutes.c.minute < end
        )
    )
    for minute, lead in minutes:
        snapshots[(minute, lead)] = {}
    rows = connection.execute(
        select(forecast_snapshots).where(
            forecast_snapshots.c.minute >= start, forecast_snapshots.c.minute < end
        )
    )
    for row in rows:
        snapshots[(row.minute, row.lead_minutes)][row.task_type] = Work(row.task_count, int(row.compute_ms))
    return snapshots


def load_actual(connection: Connection, start: datetime, end: datetime) -> dict[datetime, dict[str, Work]]:
    """Per minute in [start, end) and type: the schedule rows due then that ran, and the
    compute all their attempts used."""
    query = bound_query(connection, "sum_runs_per_minute_and_type").columns(
        minute=UTCDateTime(),
        task_type=Text(),
        due_count=BigInteger(),
        run_count=BigInteger(),
        attempts=BigInteger(),
        compute_ms=BigInteger(),
    )
    actual: dict[datetime, dict[str, Work]] = defaultdict(dict)
    for row in connection.execute(query, {"window_start": start, "window_end": end}):
        if row.run_count:
            actual[row.minute][row.task_type] = Work(int(row.run_count), int(row.compute_ms))
    return dict(actual)


@dataclass(frozen=True, slots=True)
class TaskUsage:
    task_id: int
    name: str
    task_type: str
    due: int
    ran: int
    attempts: int
    compute_ms: int


def load_task_usage(connection: Connection, start: datetime, end: datetime) -> list[TaskUsage]:
    """Per task with rows due in [start, end): rows due, rows run, attempts, compute used."""
    query = bound_query(connection, "sum_runs_per_task").columns(
        task_id=BigInteger(),
        name=Text(),
        task_type=Text(),
        due_count=Integer(),
        run_count=Integer(),
        attempts=Integer(),
        compute_ms=BigInteger(),
    )
    return [
        TaskUsage(
            int(row.task_id),
            row.name,
            row.task_type,
            int(row.due_count),
            int(row.run_count),
            int(row.attempts),
            int(row.compute_ms),
        )
        for row in connection.execute(query, {"window_start": start, "window_end": end})
    ]


# Minutes of snapshots removed per transaction: a day of them, a few thousand rows.
PRUNE_SNAPSHOT_SPAN = timedelta(days=1)


def count_snapshot_rows_before(connection: Connection, cutoff: datetime) -> int:
    """Snapshot rows (per minute and per type) of the minutes before `cutoff`."""
    total = 0
    for table in (forecast_snapshot_minutes, forecast_snapshots):
        total += int(connection.execute(select(func.count()).where(table.c.minute < cutoff)).scalar_one())
    return total


def prune_snapshots_before(engine: Engine, cutoff: datetime, span: timedelta = PRUNE_SNAPSHOT_SPAN) -> int:
    """Remove the snapshots of the minutes before `cutoff`, oldest first, `span` of minutes per
    transaction (primary key range deletes). Returns the rows removed. A forecast's accuracy
    can only be shown while the runs it is compared with are kept, so the same retention
    bounds both."""
    removed = 0
    while True:
        with engine.begin() as connection:
            oldest = connection.execute(select(func.min(forecast_snapshot_minutes.c.minute))).scalar_one()
            if oldest is None or oldest >= cutoff:
                return removed
            until = min(oldest + span, cutoff)
            for table in (forecast_snapshots, forecast_snapshot_minutes):
                removed += int(connection.execute(delete(table).where(table.c.minute < until)).rowcount)
