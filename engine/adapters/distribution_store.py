"""The Distributor's reads and writes of `task_schedule`.

Every status change names the status (and claimer) it expects to replace, so a row that
someone else moved on in the meantime is left alone and the row count says so. The changes
are named queries, one per transition, in `sql/<dialect>/queries.sql`.

No distributor statement ever waits for a row lock (`SKIP LOCKED` throughout): a row that
a processor holds is being started, and the distributor has nothing to do with it then.
Waits therefore only go from processors to distributors, never back, and cannot form the
cycles that make deadlocks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Integer, Text, func, select
from sqlalchemy.engine import Connection

from engine.adapters.database import status_is
from engine.adapters.policy_claims import next_policy_due_time
from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime, task_schedule
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus

SCHEDULED = ScheduleStatus.SCHEDULED.value


def claim_due_rows(
    connection: Connection, now: datetime, limit: int, claimer: str, lease_until: datetime
) -> list[TaskMessage]:
    """Move up to `limit` due `Scheduled` rows (oldest first) to `Queued`, claimed by `claimer`
    until `lease_until`, and return the messages to publish for them (`claim_due_rows`).

    On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so distributors running at
    once claim disjoint rows without waiting on each other. On SQLite, BEGIN IMMEDIATE
    serialises claimers.
    """
    query = bound_query(connection, "claim_due_rows").columns(
        id=BigInteger(),
        task_id=BigInteger(),
        task_type=Text(),
        attempt=Integer(),
        scheduled_time=UTCDateTime(),
    )
    values = {"now": now, "limit": limit, "claimer": claimer, "lease_until": lease_until}
    return sorted(
        (
            TaskMessage(
                schedule_id=int(row.id),
                task_id=int(row.task_id),
                task_type=row.task_type,
                attempt=int(row.attempt) + 1,
                scheduled_time=row.scheduled_time,
            )
            for row in connection.execute(query, values)
        ),
        key=lambda message: (message.scheduled_time, message.schedule_id),
    )


def mark_handed_over(connection: Connection, schedule_ids: Sequence[int], claimer: str) -> int:
    """The broker confirmed these rows' messages: drop the lease so no sweeper resends them.
    Rows a processor already started are not `Queued` any more and stay as they are; rows a
    processor holds at this moment are being started and are skipped rather than waited for
    (should that start roll back, the lease lapses and the sweep republishes the row; the
    processor drops the copy it does not need)."""
    return _change_queued(connection, "mark_handed_over", schedule_ids, claimer)


def release_unpublished(connection: Connection, schedule_ids: Sequence[int], claimer: str) -> int:
    """Publishing failed: put rows back to `Scheduled` for the next loop, but only those still
    `Queued` under this claimer (a sweeper or another distributor may have moved on). A row a
    processor holds at this moment is being started (its message got out after all) and is
    left to it."""
    return _change_queued(connection, "release_unpublished", schedule_ids, claimer)


def _change_queued(connection: Connection, name: str, schedule_ids: Sequence[int], claimer: str) -> int:
    if not schedule_ids:
        return 0
    values = {"ids": json.dumps(list(schedule_ids)), "claimer": claimer}
    return int(connection.execute(bound_query(connection, name), values).rowcount)


def sweep_expired_claims(connection: Connection, now: datetime) -> int:
    """Return to `Scheduled` the `Queued` rows whose distributor lease ran out: it died (or lost
    the database) between claiming and the broker's confirmation, and no processor has
    started them. Their message may have gone out; if so, the processor that gets it starts
    the row from `Scheduled` or drops it as a duplicate (see `engine.core.leases`). A row
    someone holds right now is left to the next sweep. A read tells first whether there is any
    (`expired_claims_exist`): on PostgreSQL it plans in a fraction of the update's time."""
    values = {"now": now}
    if not connection.execute(bound_query(connection, "expired_claims_exist"), values).scalar():
        return 0
    return int(connection.execute(bound_query(connection, "sweep_expired_claims"), values).rowcount)


def next_due_time(connection: Connection, now: datetime) -> datetime | None:
    """The earliest `scheduled_time` still `Scheduled`, so the loop can wake exactly then. A
    policy row due by `now` that is still `Scheduled` waits for an earlier run to end: it
    would wake the loop at once, again and again, so the poll finds it instead."""
    # min() keeps the column's type, so SQLite's text comes back as an aware datetime too.
    plain: datetime | None = connection.execute(
        select(func.min(task_schedule.c.scheduled_time)).where(
            status_is(task_schedule.c.status, SCHEDULED), task_schedule.c.policy_claim.is_(False)
        )
    ).scalar()
    by_policy = next_policy_due_time(connection, now)
    return min((t for t in (plain, by_policy) if t is not None), default=None)


def recover_in_flight(connection: Connection, now: datetime) -> int:
    """For the embedded mode, whose in-process broker forgets everything when the process
    dies: at start-up every `Queued` or `Running` row and every pending retry goes back to
    `Scheduled`, keeping its attempt count so the retry budget is not reset (a `Running`
    row's attempt never finished: it runs again under the same number, as it would after a
    broker redelivery). Only safe when no other process uses this broker, which is what
    `headway up` is."""
    return int(connection.execute(bound_query(connection, "recover_in_flight")).rowcount)
