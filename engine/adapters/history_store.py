"""History at scale: daily rollups of `task_runs`, pruning by age, and what the history holds.

**Rollups are exact.** `task_runs` rows are inserted once, with the outcome, and never
updated. `history_rollup_state.rolled_up_run_id` is a watermark: every run with an id up to
it is counted in `task_run_rollups` (and its buckets), no other. `roll_up_runs` moves it only
to an id below which every inserting transaction has ended: on PostgreSQL it reads the
largest id under a brief `SHARE` lock of `task_runs`, which waits for the transactions that
are inserting and holds new ones off for the instant of one index lookup (ids come from an
identity without cache, so later inserts get larger ids); on SQLite a writer holds the only
write lock. The runs between the old and the new watermark are then added and the
watermark moved in one transaction. Readers add the rollups to the runs past the
watermark, in one statement, so each run counts once at every instant.

**Pruning removes only what is history.** A batch picks schedule rows that
`engine.core.retention.is_prunable` allows and whose runs are all rolled up, deletes their
runs (the only table referring to `task_schedule`) and then the rows, in one transaction.
On PostgreSQL the tables are partitioned by week: whole weeks older than the retention are
detached and dropped (engine.adapters.partition_store), and only the default partition is
pruned in batches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in, is_postgresql, read_connection
from engine.adapters.partition_store import (
    PartitionStats,
    drop_old_partitions,
    ensure_partitions,
    existing_ranges,
    partition_stats,
)
from engine.adapters.sql_queries import named_query
from engine.adapters.tables import task_run_rollups, task_runs, task_schedule
from engine.core.partitions import droppable_ranges
from engine.core.retention import retention_cutoff

log = logging.getLogger("headway.history")

# Run ids rolled up per transaction: a few seconds of work at most, however far behind.
ROLLUP_BATCH_IDS = 200_000
# Schedule rows removed per transaction (with their runs).
PRUNE_BATCH_ROWS = 5_000
# How long the roll-up waits for the inserting transactions before trying again later.
ROLLUP_LOCK_TIMEOUT = "2s"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _query(connection: Connection, name: str) -> Any:
    return text(named_query(connection.dialect.name, name))


def settled_last_run_id(connection: Connection) -> int:
    """The largest `task_runs` id such that no transaction still running can insert a smaller
    one (see the module docstring). On PostgreSQL call it in a transaction of its own: the
    lock it takes lasts until that transaction ends."""
    if is_postgresql(connection):
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{ROLLUP_LOCK_TIMEOUT}'")
        connection.exec_driver_sql("LOCK TABLE task_runs IN SHARE MODE")
    return int(connection.execute(select(func.coalesce(func.max(task_runs.c.id), 0))).scalar_one())


def roll_up_range(connection: Connection, through_id: int) -> int:
    """Add the runs past the watermark up to `through_id` to the rollups and move the
    watermark there, in the caller's transaction. Returns the new watermark (the old one if
    it was already past `through_id`)."""
    after_id = int(connection.execute(_query(connection, "read_rollup_watermark")).scalar_one())
    if through_id <= after_id:
        return after_id
    bounds: dict[str, Any] = {"after_id": after_id, "through_id": through_id}
    # The weeks the runs' schedule rows live in (PostgreSQL's partitions), so that the join
    # reads those alone.
    bounds.update(connection.execute(_query(connection, "read_run_time_span"), bounds).one()._asdict())
    connection.execute(_query(connection, "roll_up_runs"), bounds)
    connection.execute(_query(connection, "roll_up_run_buckets"), bounds)
    moved = connection.execute(_query(connection, "move_rollup_watermark"), bounds).rowcount
    if moved != 1:
        raise RuntimeError(f"rollup watermark moved from {after_id} under a concurrent roll-up")
    return through_id


def roll_up_runs(engine: Engine, batch_ids: int = ROLLUP_BATCH_IDS) -> int:
    """Roll up the runs recorded since the last roll-up, `batch_ids` ids per transaction.
    Returns the watermark reached."""
    with engine.begin() as connection:
        through_id = settled_last_run_id(connection)
    while True:
        with engine.begin() as connection:
            after_id = int(connection.execute(_query(connection, "read_rollup_watermark")).scalar_one())
            if after_id >= through_id:
                return after_id
            roll_up_range(connection, min(through_id, after_id + batch_ids))


def read_watermark(connection: Connection) -> int:
    return int(connection.execute(text("SELECT rolled_up_run_id FROM history_rollup_state")).scalar_one())


@dataclass(frozen=True, slots=True)
class PruneResult:
    schedule_rows: int
    run_rows: int


def count_prunable(connection: Connection, now: datetime, retention: timedelta) -> PruneResult:
    """What a prune at `now` would remove: schedule rows and their runs."""
    cutoff = retention_cutoff(now, retention)
    params: dict[str, Any] = {"cutoff": _bind(connection, cutoff)}
    if is_postgresql(connection):
        weeks = droppable_ranges(existing_ranges(connection), cutoff)
        params["weeks_before"] = weeks[-1].end if weeks else _EPOCH
    row = connection.execute(_query(connection, "count_prunable_rows"), params).one()
    return PruneResult(int(row.schedule_rows or 0), int(row.run_rows or 0))


def prune_history(
    engine: Engine,
    now: datetime,
    retention: timedelta,
    batch_rows: int = PRUNE_BATCH_ROWS,
    max_batches: int | None = None,
) -> PruneResult:
    """Roll up, then remove the prunable schedule rows and their runs in batches of
    `batch_rows` (at most `max_batches` of them), each batch in its own transaction, so the
    processes' writes never wait long. Returns what was removed."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    roll_up_runs(engine)
    cutoff = retention_cutoff(now, retention)
    after_time, after_id = _EPOCH, 0
    removed_rows = removed_runs = batches = 0
    if is_postgresql(engine):
        with engine.begin() as connection:
            ensure_partitions(connection, now)
        dropped = drop_old_partitions(engine, cutoff)
        removed_rows, removed_runs = dropped.schedule_rows, dropped.run_rows
    while max_batches is None or batches < max_batches:
        with engine.begin() as connection:
            chosen = connection.execute(
                _query(connection, "find_prunable_rows"),
                {
                    "cutoff": _bind(connection, cutoff),
                    "after_time": _bind(connection, after_time),
                    "after_id": after_id,
                    "rolled_up_run_id": read_watermark(connection),
                    "batch_size": batch_rows,
                },
            ).all()
            if not chosen:
                break
            ids = [int(row.id) for row in chosen]
            removed_runs += _delete(connection, task_runs, task_runs.c.schedule_id, ids)
            removed_rows += _delete(connection, task_schedule, task_schedule.c.id, ids)
        batches += 1
        last = chosen[-1]
        after_time, after_id = _instant(last.finished_at), int(last.id)
        if len(chosen) < batch_rows:
            break
    if removed_rows:
        log.info("pruned %d schedule rows and %d runs finished before %s", removed_rows, removed_runs, cutoff)
    return PruneResult(removed_rows, removed_runs)


def _delete(connection: Connection, table: Any, column: Any, ids: list[int]) -> int:
    return int(connection.execute(delete(table).where(id_in(column, ids, connection))).rowcount)


def _bind(connection: Connection, instant: datetime) -> Any:
    """A bind value for a raw named query: SQLite stores naive UTC text."""
    if is_postgresql(connection):
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TableStats:
    name: str
    rows: int
    size_bytes: int | None


@dataclass(frozen=True, slots=True)
class HistoryStats:
    tables: list[TableStats]
    schedule_rows_by_status: dict[str, int]
    oldest_scheduled_time: datetime | None
    oldest_run_started_at: datetime | None
    oldest_rollup_day: date | None
    rolled_up_run_id: int
    database_size_bytes: int | None
    retention_days: int
    prunable: PruneResult
    partitions: list[PartitionStats]  # empty on SQLite


STATS_TABLES = (
    "tasks",
    "task_schedule",
    "task_runs",
    "task_run_rollups",
    "task_run_rollup_buckets",
    "forecast_snapshots",
)


def history_stats(engine: Engine, now: datetime, retention: timedelta) -> HistoryStats:
    """Rows per table and per schedule status, sizes, the oldest rows and what pruning at
    `now` would remove. Counts are exact (they read whole tables: a command, not a probe)."""
    with read_connection(engine) as connection:
        partitions = partition_stats(connection) if is_postgresql(connection) else []
        # A partitioned table's rows are its partitions', counted once for both.
        counted: dict[str, int] = {}
        for partition in partitions:
            counted[partition.table] = counted.get(partition.table, 0) + partition.rows
        tables = [
            TableStats(
                name,
                counted[name] if name in counted else _count(connection, name),
                _table_size(connection, name),
            )
            for name in STATS_TABLES
        ]
        statuses = {
            str(status): int(count)
            for status, count in connection.execute(
                select(task_schedule.c.status, func.count()).group_by(task_schedule.c.status)
            )
        }
        oldest_time = connection.execute(select(func.min(task_schedule.c.scheduled_time))).scalar_one()
        oldest_run = connection.execute(select(func.min(task_runs.c.started_at))).scalar_one()
        oldest_day = connection.execute(select(func.min(task_run_rollups.c.day))).scalar_one()
        return HistoryStats(
            tables=tables,
            schedule_rows_by_status=dict(sorted(statuses.items())),
            oldest_scheduled_time=oldest_time,
            oldest_run_started_at=oldest_run,
            oldest_rollup_day=oldest_day,
            rolled_up_run_id=read_watermark(connection),
            database_size_bytes=_database_size(connection),
            retention_days=retention.days,
            prunable=count_prunable(connection, now, retention),
            partitions=partitions,
        )


def _count(connection: Connection, table: str) -> int:
    return int(connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def _table_size(connection: Connection, table: str) -> int | None:
    """Bytes of the table with its indexes (and partitions) on PostgreSQL, the pages
    of the table and its indexes on SQLite (None where SQLite lacks the dbstat table)."""
    if is_postgresql(connection):
        # A partitioned table stores nothing itself: its size is its partitions' (the tree
        # of a table that is not partitioned is empty).
        query = text(
            "SELECT COALESCE((SELECT SUM(pg_total_relation_size(relid)) FROM pg_partition_tree(:t)),"
            " pg_total_relation_size(:t))"
        )
        return int(connection.execute(query, {"t": table}).scalar_one())
    try:
        size = connection.execute(
            text(
                "SELECT SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
                "WHERE m.tbl_name = :t"
            ),
            {"t": table},
        ).scalar_one()
    except Exception:  # a build without SQLITE_ENABLE_DBSTAT_VTAB
        return None
    return int(size or 0)


def _database_size(connection: Connection) -> int | None:
    if is_postgresql(connection):
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    return int(pages) * int(page_size)
