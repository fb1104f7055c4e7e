"""The weekly partitions of `task_schedule` and `task_runs` on PostgreSQL (0011_partitioned_history):
created ahead, dropped once old, listed with their sizes. SQLite has no partitions.

**Created ahead, never by hand.** `ensure_partitions` creates the weeks of
`engine.core.partitions.ranges_to_create` that are missing, in both tables with the same
bounds, each pair tied by its foreign key. The Scheduler's history step (PruneStep), `headway
db prune` and `headway db upgrade` call it. A row whose week has no partition goes to the
default partition instead of failing; when its week is created the default partition's rows of
that week move into it, in the same transaction (PostgreSQL refuses a new partition while the
default one holds rows of its range).

**Dropped whole.** A week wholly older than the retention is detached from both tables and
dropped (no row is deleted, so no dead rows or index bloat are left behind). The rows of that
week that are not history yet (`engine.core.retention`: Scheduled, Queued, Running, Failed with
a retry pending, Dead not discarded, finished too recently, or with runs not rolled up) are
moved, with their runs, to the default partition first, in the same transaction: keeping the
whole week for them instead would keep millions of finished rows for one dead letter. The
default partition's rows are pruned in batches later, like SQLite's (history_store).

Neither is seen by the count triggers of 0017 (rows leave or enter a partition by name, or
with the partition), so the week's counts are made again from its rows under the same lock
(`engine.adapters.schedule_counts.recount_minutes`). The dead-letter count's row triggers
(0018) are cloned to every partition, so they see rows written to one by name; only a detached
week's dead letters leave unseen, and are taken off the count under the lock
(`engine.adapters.dead_letter_counts.subtract_detached_dead_letters`).

Both run under a brief `ACCESS EXCLUSIVE` lock of the two tables (PostgreSQL's lock for
adding or detaching a partition), taken with a lock timeout so the processes' writes never
queue behind it for long; a timeout is tried again at the next step. Everything read under
the lock goes through an index; counting and dropping the detached tables happen after it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import Connection

from engine.adapters.dead_letter_counts import subtract_detached_dead_letters
from engine.adapters.schedule_counts import recount_minutes
from engine.adapters.sql_queries import named_query
from engine.adapters.tables import task_runs, task_schedule
from engine.core.partitions import (
    PARTITIONS_AHEAD,
    TimeRange,
    default_partition_name,
    droppable_ranges,
    partition_name,
    ranges_to_create,
)

log = logging.getLogger("headway.partitions")

SCHEDULE, RUNS = task_schedule.name, task_runs.name
# How long a partition change waits for the lock before giving up until the next step.
PARTITION_LOCK_TIMEOUT = "2s"
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
_DETACHED = re.compile(r"^task_(schedule|runs)_p[0-9]{8}$")


@dataclass(frozen=True, slots=True)
class Partition:
    table: str
    name: str
    time_range: TimeRange | None  # None: the default partition


@dataclass(frozen=True, slots=True)
class DroppedRows:
    schedule_rows: int
    run_rows: int
    weeks: int


def list_partitions(connection: Connection, table: str) -> list[Partition]:
    """The partitions of `table`, the default one first, then by time."""
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:table AS regclass)"
        ),
        {"table": table},
    ).all()
    partitions = [Partition(table, str(row.relname), _parse_bound(str(row.bound))) for row in rows]
    return sorted(partitions, key=lambda p: (p.time_range is not None, p.time_range or TimeRange(_MIN, _MIN)))


_MIN = datetime.min.replace(tzinfo=UTC)


def _parse_bound(bound: str) -> TimeRange | None:
    if bound == "DEFAULT":
        return None
    match = _BOUND.search(bound)
    if match is None:
        raise ValueError(f"unexpected partition bound {bound!r}")
    start, end = (datetime.fromisoformat(value).astimezone(UTC) for value in match.groups())
    return TimeRange(start, end)


def existing_ranges(connection: Connection) -> list[TimeRange]:
    """The weeks that have partitions (the same in both tables)."""
    return [p.time_range for p in list_partitions(connection, SCHEDULE) if p.time_range is not None]


def ensure_partitions(
    connection: Connection, now: datetime, ahead: timedelta = PARTITIONS_AHEAD
) -> list[TimeRange]:
    """Create the missing weeks from `now`'s through `now + ahead`, in the caller's
    transaction. Returns the weeks created."""
    missing = sorted(set(ranges_to_create(now, ahead)) - set(existing_ranges(connection)))
    if missing:
        _lock(connection)
        for time_range in missing:
            create_partition_pair(connection, time_range)
            # The default partition's rows of the week were deleted from it by name, which
            # no count trigger sees, and inserted again through task_schedule, which one does.
            recount_minutes(connection, time_range.start, time_range.end)
        log.info(
            "created history partitions for the weeks from %s",
            ", ".join(f"{r.start:%Y-%m-%d}" for r in missing),
        )
    return missing


def create_partition_pair(connection: Connection, time_range: TimeRange) -> None:
    """The week's partition of both tables and the foreign key between them, with the default
    partition's rows of that week moved in. The caller holds the lock (or is the migration)."""
    bounds = {"start": time_range.start, "end": time_range.end}
    waiting_schedule = _rows(connection, f"SELECT * FROM {default_partition_name(SCHEDULE)}", bounds)
    waiting_runs = _rows(connection, f"SELECT * FROM {default_partition_name(RUNS)}", bounds)
    for table in (RUNS, SCHEDULE):  # runs first: a schedule row's deletion would cascade
        connection.execute(
            text(
                f"DELETE FROM {default_partition_name(table)} "
                "WHERE scheduled_time >= :start AND scheduled_time < :end"
            ),
            bounds,
        )
    literal = f"FROM ('{_literal(time_range.start)}') TO ('{_literal(time_range.end)}')"
    schedule_name, runs_name = partition_name(SCHEDULE, time_range), partition_name(RUNS, time_range)
    connection.exec_driver_sql(f"CREATE TABLE {schedule_name} PARTITION OF {SCHEDULE} FOR VALUES {literal}")
    connection.exec_driver_sql(f"CREATE TABLE {runs_name} PARTITION OF {RUNS} FOR VALUES {literal}")
    connection.exec_driver_sql(
        f"ALTER TABLE {runs_name} ADD CONSTRAINT {runs_name}_schedule_fkey FOREIGN KEY (schedule_id, "
        f"scheduled_time) REFERENCES {schedule_name} (id, scheduled_time) ON DELETE CASCADE"
    )
    _reinsert(connection, waiting_schedule, waiting_runs)


def drop_old_partitions(engine: Engine, cutoff: datetime) -> DroppedRows:
    """Detach and drop the weeks wholly before `cutoff` (end <= cutoff), keeping the rows that
    are not history yet in the default partition (see the module docstring). Runs must be
    rolled up first: runs past the watermark are kept. Returns what was removed."""
    with engine.connect() as connection:
        weeks = droppable_ranges(existing_ranges(connection), cutoff)
    # One week per transaction, so the lock is let go between weeks (a backlog of weeks, say
    # after lowering the retention, does not hold the processes back for all of them at once).
    for week in weeks:
        with engine.begin() as connection:
            _lock(connection)
            if week not in existing_ranges(connection):
                continue  # dropped meanwhile by another prune
            watermark = int(
                connection.execute(
                    text("SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1")
                ).scalar_one()
            )
            _detach_week(connection, week, cutoff, watermark)
            # The detached rows left task_schedule with no count trigger seeing them go.
            recount_minutes(connection, week.start, week.end)
    removed = _drop_detached(engine)
    if removed.weeks:
        log.info(
            "dropped %d weeks of history: %d schedule rows and %d runs",
            removed.weeks,
            removed.schedule_rows,
            removed.run_rows,
        )
    return removed


def _detach_week(connection: Connection, week: TimeRange, cutoff: datetime, watermark: int) -> None:
    params = {"start": week.start, "end": week.end, "cutoff": cutoff, "rolled_up_run_id": watermark}
    query = text(named_query("postgresql", "find_rows_kept_from_week"))
    kept_ids = [int(i) for i in connection.execute(query, params).scalars()]
    for table in (RUNS, SCHEDULE):
        connection.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {partition_name(table, week)}")
    # The week's dead letters left with it, unseen by the triggers of 0018; those kept come
    # back below through task_schedule, whose insert trigger counts them again.
    subtract_detached_dead_letters(connection, partition_name(SCHEDULE, week))
    if not kept_ids:
        return
    # The week is no partition any more, so the kept rows land in the default partition:
    # copied by the server (by column name: a detached table may order them otherwise), then
    # removed from the detached tables, which then hold only what goes. Both are copied
    # before either is emptied: the detached tables keep their foreign key, whose cascade
    # would take the runs along with their schedule rows.
    moves = ((SCHEDULE, task_schedule.c, "id"), (RUNS, task_runs.c, "schedule_id"))
    for table, columns, key in moves:
        names = ", ".join(column.name for column in columns)
        connection.execute(
            text(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {partition_name(table, week)} "
                f"WHERE {key} = ANY(:ids)"
            ),
            {"ids": kept_ids},
        )
    for table, _, key in reversed(moves):
        delete = text(f"DELETE FROM {partition_name(table, week)} WHERE {key} = ANY(:ids)")
        connection.execute(delete, {"ids": kept_ids})


def _drop_detached(engine: Engine) -> DroppedRows:
    """Count and drop the detached weeks (also any left by an interrupted prune): runs first,
    their foreign key names the schedule table."""
    schedule_rows = run_rows = weeks = 0
    with engine.connect() as connection:
        names = [
            str(name)
            for name in connection.execute(
                text(
                    "SELECT relname FROM pg_class "
                    "WHERE relkind = 'r' AND NOT relispartition AND relname ~ :pattern"
                ),
                {"pattern": _DETACHED.pattern},
            ).scalars()
        ]
    for name in sorted(names, key=lambda n: (not n.startswith(RUNS), n)):
        with engine.begin() as connection:
            rows = int(connection.exec_driver_sql(f"SELECT COUNT(*) FROM {name}").scalar_one())
            connection.exec_driver_sql(f"DROP TABLE {name}")
        if name.startswith(RUNS):
            run_rows += rows
        else:
            schedule_rows += rows
            weeks += 1
    return DroppedRows(schedule_rows, run_rows, weeks)


def _lock(connection: Connection) -> None:
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
    connection.exec_driver_sql(f"LOCK TABLE {SCHEDULE}, {RUNS} IN ACCESS EXCLUSIVE MODE")


def _rows(
    connection: Connection, select_from: str, params: dict[str, Any], extra: str = ""
) -> list[dict[str, Any]]:
    query = text(f"{select_from} WHERE scheduled_time >= :start AND scheduled_time < :end{extra}")
    return [dict(row._mapping) for row in connection.execute(query, params)]


def _reinsert(
    connection: Connection, schedule_rows: list[dict[str, Any]], run_rows: list[dict[str, Any]]
) -> None:
    if schedule_rows:
        connection.execute(insert(task_schedule), schedule_rows)
    if run_rows:
        connection.execute(insert(task_runs), run_rows)


def _literal(instant: datetime) -> str:
    """A bound for DDL, which takes no parameters: our own UTC instant, never user input."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


@dataclass(frozen=True, slots=True)
class PartitionStats:
    table: str
    name: str
    start: datetime | None
    end: datetime | None
    rows: int
    size_bytes: int


def partition_stats(connection: Connection) -> list[PartitionStats]:
    """Every partition of both tables with its exact row count and its size with indexes."""
    stats = []
    for table in (SCHEDULE, RUNS):
        counts = {
            str(name): int(count)
            for name, count in connection.execute(
                text(f"SELECT tableoid::regclass::text, COUNT(*) FROM {table} GROUP BY 1")
            ).all()
        }
        for partition in list_partitions(connection, table):
            size = connection.execute(
                text("SELECT pg_total_relation_size(CAST(:p AS regclass))"), {"p": partition.name}
            )
            time_range = partition.time_range
            stats.append(
                PartitionStats(
                    table,
                    partition.name,
                    time_range.start if time_range else None,
                    time_range.end if time_range else None,
                    counts.get(partition.name, 0),
                    int(size.scalar_one()),
                )
            )
    return stats
