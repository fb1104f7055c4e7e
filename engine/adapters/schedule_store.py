"""The Scheduler's reads and writes of `tasks` and `task_schedule`, set-based."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in
from engine.adapters.tables import UTCDateTime, task_schedule, tasks
from engine.core.policies import TaskPolicies
from engine.core.runs import PendingTask
from engine.core.types import ScheduleStatus, TaskKind

SQLITE_ROWS_PER_STATEMENT = 5_000


def lock_pending_tasks(
    connection: Connection, horizon: datetime, only_unmaterialised: bool = False
) -> list[PendingTask]:
    """Active tasks needing rows, locked for this transaction.

    On PostgreSQL the rows are taken `FOR UPDATE SKIP LOCKED`: a second Scheduler skips what
    the first is expanding, and an edit waits for the pass to commit (then clears the mark).
    On SQLite the pass's BEGIN IMMEDIATE already serialises writers.
    """
    expand_from = func.coalesce(tasks.c.materialized_until, tasks.c.updated_at)
    needs_rows = or_(
        tasks.c.materialized_until.is_(None),
        and_(tasks.c.kind == TaskKind.CRON.value, expand_from < horizon),
    )
    if only_unmaterialised:
        needs_rows = tasks.c.materialized_until.is_(None)
    query = select(
        tasks.c.id,
        tasks.c.kind,
        tasks.c.cron_expression,
        tasks.c.timezone,
        tasks.c.run_at,
        tasks.c.updated_at,
        tasks.c.materialized_until,
        tasks.c.overlap_policy,
        tasks.c.misfire_policy,
        tasks.c.ordering_key,
    ).where(
        tasks.c.active.is_(True),
        tasks.c.kind != TaskKind.AFTER.value,  # triggered by its upstream's runs only
        needs_rows,
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=tasks)
    return [
        PendingTask(
            id=int(row.id),
            kind=TaskKind(row.kind),
            cron_expression=row.cron_expression,
            timezone=row.timezone,
            run_at=row.run_at,
            expand_from=row.materialized_until or row.updated_at,
            claimed_by_policy=uses_policies(row.overlap_policy, row.misfire_policy, row.ordering_key),
        )
        for row in connection.execute(query)
    ]


def insert_fire_times(connection: Connection, task_ids: Sequence[int], fire_times: Sequence[datetime]) -> int:
    """Insert the cross product task_ids x fire_times as `Scheduled` rows, skipping any that
    exist. Returns the number of rows added."""
    if not task_ids or not fire_times:
        return 0
    if connection.dialect.name == "postgresql":
        # One statement per group: the server builds the product, nothing row-by-row crosses
        # the wire, and ON CONFLICT makes a repeated or racing pass add nothing twice. The
        # type is read once per task here rather than per row by the fill-in trigger (0013).
        result = connection.execute(
            text(
                "INSERT INTO task_schedule (task_id, task_type, scheduled_time) "
                "SELECT t.id, t.task_type, fire_time "
                "FROM unnest(CAST(:task_ids AS BIGINT[])) AS ids(task_id) "
                "JOIN tasks t ON t.id = ids.task_id "
                "CROSS JOIN unnest(CAST(:fire_times AS TIMESTAMPTZ[])) AS fire_time "
                "ON CONFLICT (task_id, scheduled_time) DO NOTHING"
            ),
            {"task_ids": list(task_ids), "fire_times": list(fire_times)},
        )
        return int(result.rowcount)
    return insert_rows(connection, ((task_id, t) for task_id in task_ids for t in fire_times))


def insert_rows(connection: Connection, rows: Iterable[tuple[int, datetime]]) -> int:
    """Insert (task_id, scheduled_time) pairs as `Scheduled` rows, skipping existing ones."""
    if connection.dialect.name == "postgresql":
        pairs = list(rows)
        if not pairs:
            return 0
        result = connection.execute(
            text(
                "INSERT INTO task_schedule (task_id, task_type, scheduled_time) "
                "SELECT t.id, t.task_type, pairs.scheduled_time "
                "FROM unnest(CAST(:task_ids AS BIGINT[]), CAST(:times AS TIMESTAMPTZ[])) "
                "AS pairs(task_id, scheduled_time) "
                "JOIN tasks t ON t.id = pairs.task_id "
                "ON CONFLICT (task_id, scheduled_time) DO NOTHING"
            ),
            {"task_ids": [p[0] for p in pairs], "times": [p[1] for p in pairs]},
        )
        return int(result.rowcount)
    statement = (
        sqlite_insert(task_schedule)
        .values(
            task_id=bindparam("task_id"),
            task_type=select(tasks.c.task_type).where(tasks.c.id == bindparam("task_id")).scalar_subquery(),
            scheduled_time=bindparam("scheduled_time", type_=UTCDateTime()),
        )
        .on_conflict_do_nothing(index_elements=["task_id", "scheduled_time"])
    )
    added = 0
    batch: list[dict[str, object]] = []
    for task_id, scheduled_time in rows:
        batch.append({"task_id": task_id, "scheduled_time": scheduled_time})
        if len(batch) >= SQLITE_ROWS_PER_STATEMENT:
            added += _sqlite_executemany(connection, statement, batch)
            batch = []
    if batch:
        added += _sqlite_executemany(connection, statement, batch)
    return added


def _sqlite_executemany(connection: Connection, statement: object, batch: list[dict[str, object]]) -> int:
    # The driver's rowcount sums each row's own change; total_changes() would add the writes
    # of the count triggers (0017_schedule_minute_counts).
    return int(connection.execute(statement, batch).rowcount)  # type: ignore[call-overload]


def uses_policies(overlap_policy: str, misfire_policy: str, ordering_key: str | None) -> bool:
    """Whether a task's rows are claimed by policy (`engine.adapters.policy_claims`)."""
    return ordering_key is not None or TaskPolicies.of(overlap_policy, misfire_policy, None).claimed_by_policy


def mark_policy_rows(connection: Connection, task_ids: Sequence[int]) -> int:
    """The `Scheduled` rows of these tasks (whose policies are not the defaults) are claimed by
    policy. A separate statement, so that writing the rows of the other tasks, nearly all of
    them, stays as it was."""
    if not task_ids:
        return 0
    result = connection.execute(
        update(task_schedule)
        .where(
            id_in(task_schedule.c.task_id, task_ids, connection),
            task_schedule.c.status == ScheduleStatus.SCHEDULED.value,
            task_schedule.c.policy_claim.is_(False),
        )
        .values(policy_claim=True)
    )
    return int(result.rowcount)


def mark_materialised(connection: Connection, marks: Sequence[tuple[int, datetime]]) -> None:
    """Record, per task, the instant up to which its rows now exist."""
    if not marks:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "UPDATE tasks SET materialized_until = m.until "
                "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:untils AS TIMESTAMPTZ[])) AS m(id, until) "
                "WHERE tasks.id = m.id"
            ),
            {"ids": [m[0] for m in marks], "untils": [m[1] for m in marks]},
        )
        return
    connection.execute(
        update(tasks)
        .where(tasks.c.id == bindparam("task_id"))
        .values(materialized_until=bindparam("until", type_=UTCDateTime())),
        [{"task_id": task_id, "until": until} for task_id, until in marks],
    )
