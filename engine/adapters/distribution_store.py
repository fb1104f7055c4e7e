"""The Distributor's reads and writes of `task_schedule`.

Every status change names the status (and claimer) it expects to replace, so a row that
someone else moved on in the meantime is left alone and the row count says so.

No distributor statement ever waits for a row lock (`SKIP LOCKED` throughout): a row that
a processor holds is being started, and the distributor has nothing to do with it then.
Waits therefore only go from processors to distributors, never back, and cannot form the
cycles that make deadlocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in, update_unlocked
from engine.adapters.policy_claims import next_policy_due_time
from engine.adapters.tables import task_schedule, tasks
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus

SCHEDULED = ScheduleStatus.SCHEDULED.value
QUEUED = ScheduleStatus.QUEUED.value
RUNNING = ScheduleStatus.RUNNING.value
FAILED = ScheduleStatus.FAILED.value
# What a row returned to `Scheduled` looks like.
UNCLAIMED = {"status": SCHEDULED, "claimed_by": None, "lease_expires_at": None, "queued_at": None}
# A Queued row whose message the broker confirmed: no lease left for a sweep to expire.
HANDED_OVER: dict[str, object] = {"lease_expires_at": None}


def claim_due_rows(
    connection: Connection, now: datetime, limit: int, claimer: str, lease_until: datetime
) -> list[TaskMessage]:
    """Move up to `limit` due `Scheduled` rows (oldest first) to `Queued`, claimed by `claimer`
    until `lease_until`, and return the messages to publish for them.

    On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so distributors running at
    once claim disjoint rows without waiting on each other. On SQLite, BEGIN IMMEDIATE
    serialises claimers.
    """
    due = (
        select(task_schedule.c.id)
        .where(
            task_schedule.c.status == SCHEDULED,
            task_schedule.c.scheduled_time <= now,
            # Rows of tasks with scheduling policies are decided by engine.adapters.policy_claims.
            task_schedule.c.policy_claim.is_(False),
        )
        .order_by(task_schedule.c.scheduled_time)
        .limit(limit)
    )
    claim = (
        update(task_schedule)
        .values(status=QUEUED, claimed_by=claimer, lease_expires_at=lease_until, queued_at=now)
        .returning(
            task_schedule.c.id,
            task_schedule.c.task_id,
            task_schedule.c.attempt,
            task_schedule.c.scheduled_time,
        )
    )
    if connection.dialect.name == "postgresql":
        # The rows are chosen once, in a materialized CTE, and the task type comes back with
        # them (UPDATE ... FROM tasks): one statement for the whole batch. The update finds
        # each chosen row by its whole key (id, scheduled_time): a primary key lookup in the
        # one week (partition, 0011) that holds it. (Bounding the update by the chosen rows'
        # time span instead let the planner, its statistics lagging a burst, compare every
        # chosen row with every row of that span: a million comparisons per 1,000 rows.) No
        # status test here: the rows are locked as Scheduled, and the test let the planner
        # read every Scheduled row of the week through a partial index instead.
        chosen = (
            due.add_columns(task_schedule.c.scheduled_time)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        claim = claim.where(
            task_schedule.c.id == chosen.c.id,
            task_schedule.c.scheduled_time == chosen.c.scheduled_time,
            tasks.c.id == task_schedule.c.task_id,
        )
        claimed = connection.execute(claim.returning(tasks.c.task_type)).all()
        types = {row.task_id: row.task_type for row in claimed}
    else:  # SQLite's RETURNING cannot name a joined table
        claimed = connection.execute(
            claim.where(task_schedule.c.status == SCHEDULED, task_schedule.c.id.in_(due.scalar_subquery()))
        ).all()
        query = select(tasks.c.id, tasks.c.task_type).where(
            id_in(tasks.c.id, {row.task_id for row in claimed}, connection)
        )
        types = {row.id: row.task_type for row in connection.execute(query)} if claimed else {}
    if not claimed:
        return []
    return sorted(
        (
            TaskMessage(
                schedule_id=int(row.id),
                task_id=int(row.task_id),
                task_type=types[row.task_id],
                attempt=int(row.attempt) + 1,
                scheduled_time=row.scheduled_time,
            )
            for row in claimed
        ),
        key=lambda message: (message.scheduled_time, message.schedule_id),
    )


def mark_handed_over(connection: Connection, schedule_ids: Sequence[int], claimer: str) -> int:
    """The broker confirmed these rows' messages: drop the lease so no sweeper resends them.
    Rows a processor already started are not `Queued` any more and stay as they are; rows a
    processor holds at this moment are being started and are skipped rather than waited for
    (should that start roll back, the lease lapses and the sweep republishes the row; the
    processor drops the copy it does not need)."""
    if not schedule_ids:
        return 0
    return update_unlocked(
        connection, task_schedule, _queued_by(connection, schedule_ids, claimer), HANDED_OVER
    )


def release_unpublished(connection: Connection, schedule_ids: Sequence[int], claimer: str) -> int:
    """Publishing failed: put rows back to `Scheduled` for the next loop, but only those still
    `Queued` under this claimer (a sweeper or another distributor may have moved on). A row a
    processor holds at this moment is being started (its message got out after all) and is
    left to it."""
    if not schedule_ids:
        return 0
    return update_unlocked(
        connection, task_schedule, _queued_by(connection, schedule_ids, claimer), UNCLAIMED
    )


def sweep_expired_claims(connection: Connection, now: datetime) -> int:
    """Return to `Scheduled` the `Queued` rows whose distributor lease ran out: it died (or lost
    the database) between claiming and the broker's confirmation, and no processor has
    started them. Their message may have gone out; if so, the processor that gets it starts
    the row from `Scheduled` or drops it as a duplicate (see `engine.core.leases`). A row
    someone holds right now is left to the next sweep."""
    expired = [
        task_schedule.c.status == QUEUED,
        task_schedule.c.lease_expires_at.is_not(None),
        task_schedule.c.lease_expires_at <= now,
    ]
    return update_unlocked(connection, task_schedule, expired, UNCLAIMED)


def _queued_by(
    connection: Connection, schedule_ids: Sequence[int], claimer: str
) -> list[ColumnElement[bool]]:
    return [
        id_in(task_schedule.c.id, schedule_ids, connection),
        task_schedule.c.status == QUEUED,
        task_schedule.c.claimed_by == claimer,
    ]


def next_due_time(connection: Connection, now: datetime) -> datetime | None:
    """The earliest `scheduled_time` still `Scheduled`, so the loop can wake exactly then. A
    policy row due by `now` that is still `Scheduled` waits for an earlier run to end: it
    would wake the loop at once, again and again, so the poll finds it instead."""
    # min() keeps the column's type, so SQLite's text comes back as an aware datetime too.
    plain: datetime | None = connection.execute(
        select(func.min(task_schedule.c.scheduled_time)).where(
            task_schedule.c.status == SCHEDULED, task_schedule.c.policy_claim.is_(False)
        )
    ).scalar()
    by_policy = next_policy_due_time(connection, now)
    return min((t for t in (plain, by_policy) if t is not None), default=None)


def recover_in_flight(connection: Connection, now: datetime) -> int:
    """For the embedded mode, whose in-process broker forgets everything when the process
    dies: at start-up every `Queued` or `Running` row and every pending retry goes back to
    `Scheduled`, keeping its attempt count so the retry budget is not reset. Only safe when
    no other process uses this broker, which is what `headway up` is."""
    result = connection.execute(
        update(task_schedule)
        .where(
            (task_schedule.c.status.in_([QUEUED, RUNNING]))
            | ((task_schedule.c.status == FAILED) & task_schedule.c.next_attempt_at.is_not(None))
        )
        .values(
            status=SCHEDULED,
            # A Running row's attempt never finished: it runs again under the same number, as
            # it would after a broker redelivery, so a crash does not spend the retry budget.
            attempt=case(
                (task_schedule.c.status == RUNNING, task_schedule.c.attempt - 1),
                else_=task_schedule.c.attempt,
            ),
            claimed_by=None,
            lease_expires_at=None,
            queued_at=None,
            next_attempt_at=None,
        )
    )
    return int(result.rowcount)
