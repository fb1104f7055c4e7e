"""The Distributor's claim of the rows of tasks with scheduling policies (`policy_claim`),
decided by `engine.core.policies.decide_claims`.

Whether a fire time may run depends on the task's other rows (is an earlier run in flight?),
so the rows are decided one task at a time under the task's row lock: two distributors
never decide for the same task at once, and each decision reads what the previous one
committed. The lock is taken `FOR UPDATE SKIP LOCKED` (a task another distributor, the
Scheduler or an edit holds is decided on a later loop), so no distributor statement waits
for a lock, as in `engine.adapters.distribution_store`. On SQLite, BEGIN IMMEDIATE
serialises distributors.

Only a distributor moves a policy row from `Scheduled` to `Queued`, under the lock, so at
most one run of an `overlap: skip|queue` task is ever in flight. Tasks sharing an
`ordering_key` are decided together, under an advisory lock of the key (`claim_keyed_rows`,
`decide_key_claims`): at most one run of the key is in flight, the key's rows start in
scheduled order, and its tasks' overlap and misfire policies apply before the key picks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, FromClause, and_, exists, func, or_, select
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in, status_is, update_unlocked
from engine.adapters.skip_counts import add_skip_count
from engine.adapters.tables import task_schedule, tasks
from engine.core.messages import TaskMessage
from engine.core.policies import (
    ClaimDecision,
    DueRow,
    MisfirePolicy,
    OverlapPolicy,
    SkipReason,
    TaskPolicies,
    decide_claims,
    decide_key_claims,
)
from engine.core.types import ScheduleStatus

SCHEDULED = ScheduleStatus.SCHEDULED.value
QUEUED = ScheduleStatus.QUEUED.value
SKIPPED = ScheduleStatus.SKIPPED.value
s = task_schedule.c
# The first key of PostgreSQL's two-part advisory locks taken for ordering keys ("HWOK"), so
# that they never meet another user's advisory locks on the same database.
ORDERING_LOCK_CLASS = 0x48574F4B


def in_flight(table: FromClause = task_schedule) -> ColumnElement[bool]:
    """A policy row whose run has not ended: the predicate of task_schedule_policy_active.
    The policy tests here name the column bare, as the partial indexes' predicates do:
    written `policy_claim IS true`, they kept PostgreSQL off those indexes."""
    c = table.c
    return and_(
        c.policy_claim,
        or_(
            c.status.in_([QUEUED, ScheduleStatus.RUNNING.value]),
            and_(c.status == ScheduleStatus.FAILED.value, c.next_attempt_at.is_not(None)),
        ),
    )


def claim_policy_rows(
    connection: Connection, now: datetime, limit: int, claimer: str, lease_until: datetime
) -> tuple[list[TaskMessage], int]:
    """Decide the due rows of up to `limit` ordering keys and `limit` other policy tasks at
    `now`: claim those to run as `claim_due_rows` does (`Queued` under `claimer` until
    `lease_until`), record the others `Skipped` with their reason at `now`. Returns the
    messages to publish and how many rows were skipped. A `queue` task whose earlier run is in
    flight is not looked at."""
    if not _policy_rows_due(connection, now):
        # The common loop, with no policy row due: one probe of the partial index
        # task_schedule_policy_due instead of the two joins below, planned across every week.
        return [], 0
    by_key = claim_keyed_rows(connection, now, limit)
    by_task = _decide_tasks(connection, _lock_tasks_with_due_rows(connection, now, limit), now)
    to_skip: dict[SkipReason, list[int]] = defaultdict(list)
    for schedule_id, reason in by_key.skip + by_task.skip:
        to_skip[reason].append(schedule_id)
    # The keyed and the other skips together, one reason after another (see `_skip`).
    skipped = sum(_skip(connection, ids, reason, now) for reason, ids in sorted(to_skip.items()))
    return _claim(connection, by_key.claim + by_task.claim, now, claimer, lease_until), skipped


def _decide_tasks(connection: Connection, locked: dict[int, TaskPolicies], now: datetime) -> ClaimDecision:
    """`decide_claims` for each task without a key whose row the caller locked."""
    if not locked:
        return ClaimDecision()
    due: dict[int, list[DueRow]] = defaultdict(list)
    for row in connection.execute(
        select(s.id, s.task_id, s.scheduled_time).where(
            id_in(s.task_id, list(locked), connection), s.status == SCHEDULED, s.scheduled_time <= now
        )
    ):
        due[row.task_id].append(DueRow(int(row.id), row.scheduled_time))
    busy = set(
        connection.execute(
            select(s.task_id).distinct().where(id_in(s.task_id, list(locked), connection), in_flight())
        ).scalars()
    )
    claim: list[int] = []
    skip: list[tuple[int, SkipReason]] = []
    for task_id, rows in due.items():
        decision = decide_claims(locked[task_id], rows, task_id in busy, now)
        claim += decision.claim
        skip += decision.skip
    return ClaimDecision(tuple(claim), tuple(skip))


def _policy_rows_due(connection: Connection, now: datetime) -> bool:
    """Whether any policy row is due at `now`, keyed or not."""
    due = exists().where(status_is(s.status, SCHEDULED), s.policy_claim, s.scheduled_time <= now)
    return bool(connection.execute(select(due)).scalar_one())


def _lock_tasks_with_due_rows(connection: Connection, now: datetime, limit: int) -> dict[int, TaskPolicies]:
    """The policies of up to `limit` tasks with due policy rows, each task's row locked."""
    earlier = task_schedule.alias("earlier")
    blocked = and_(
        tasks.c.overlap_policy == OverlapPolicy.QUEUE.value,
        exists().where(earlier.c.task_id == s.task_id, in_flight(earlier)),
    )
    candidates = (
        select(s.task_id)
        .join(tasks, tasks.c.id == s.task_id)
        .where(
            s.status == SCHEDULED,
            s.policy_claim,
            s.scheduled_time <= now,
            tasks.c.ordering_key.is_(None),  # decided by claim_keyed_rows
            ~blocked,
        )
        .group_by(s.task_id)
        .order_by(func.min(s.scheduled_time))
        .limit(limit)
    )
    task_ids = list(connection.execute(candidates).scalars())
    if not task_ids:
        return {}
    query = (
        select(tasks.c.id, tasks.c.overlap_policy, tasks.c.misfire_policy, tasks.c.misfire_grace_s)
        .where(id_in(tasks.c.id, task_ids, connection))
        .order_by(tasks.c.id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=tasks)
    return {
        int(row.id): TaskPolicies.of(row.overlap_policy, row.misfire_policy, row.misfire_grace_s)
        for row in connection.execute(query)
    }


def claim_keyed_rows(connection: Connection, now: datetime, limit: int) -> ClaimDecision:
    """For up to `limit` ordering keys with due rows: the row of each key to claim now and the
    rows to record Skipped (`engine.core.policies.decide_key_claims`). Each key is decided
    under a transaction-scoped advisory lock of the key, tried without waiting (a key another
    distributor holds is decided on a later loop); the reads of the key come after the lock,
    so they see every decision of the key committed before."""
    keys = list(
        connection.execute(
            select(tasks.c.ordering_key)
            .distinct()
            .join(task_schedule, s.task_id == tasks.c.id)
            .where(
                s.status == SCHEDULED,
                s.policy_claim,
                s.scheduled_time <= now,
                tasks.c.ordering_key.is_not(None),
            )
            .limit(limit)
        ).scalars()
    )
    claim: list[int] = []
    skip: list[tuple[int, SkipReason]] = []
    for key in keys:
        if connection.dialect.name == "postgresql" and not connection.execute(
            select(func.pg_try_advisory_xact_lock(ORDERING_LOCK_CLASS, func.hashtext(key)))
        ).scalar_one():
            continue
        decision = _decide_key(connection, key, now)
        claim += decision.claim
        skip += decision.skip
    return ClaimDecision(tuple(claim), tuple(skip))


def _decide_key(connection: Connection, key: str, now: datetime) -> ClaimDecision:
    """The decision for one key, whose lock the caller holds. Every due row of the key's tasks
    with a policy that drops rows (overlap `skip`, misfire other than `run_all`) is read; of
    the others, which only wait in order, the earliest due row alone (none while the key is
    busy), so a long backlog of such rows costs one row."""
    of_key = tasks.c.ordering_key == key
    due_now = and_(s.status == SCHEDULED, s.policy_claim, s.scheduled_time <= now)
    busy = set(
        connection.execute(
            select(s.task_id).distinct().join(tasks, tasks.c.id == s.task_id).where(of_key, in_flight())
        ).scalars()
    )
    drops_rows = or_(
        tasks.c.overlap_policy == OverlapPolicy.SKIP.value,
        tasks.c.misfire_policy != MisfirePolicy.RUN_ALL.value,
    )
    due: dict[int, list[DueRow]] = defaultdict(list)
    policies: dict[int, TaskPolicies] = {}
    for row in connection.execute(
        select(
            s.id,
            s.task_id,
            s.scheduled_time,
            tasks.c.overlap_policy,
            tasks.c.misfire_policy,
            tasks.c.misfire_grace_s,
        )
        .join(tasks, tasks.c.id == s.task_id)
        .where(of_key, due_now, drops_rows)
    ):
        task_id = int(row.task_id)
        policies[task_id] = TaskPolicies.of(row.overlap_policy, row.misfire_policy, row.misfire_grace_s)
        due[task_id].append(DueRow(int(row.id), row.scheduled_time))
    if not busy:
        first = connection.execute(
            select(s.id, s.task_id, s.scheduled_time)
            .join(tasks, tasks.c.id == s.task_id)
            .where(of_key, due_now, ~drops_rows)
            .order_by(s.scheduled_time, s.id)
            .limit(1)
        ).first()
        if first is not None:
            due[int(first.task_id)].append(DueRow(int(first.id), first.scheduled_time))
    return decide_key_claims(due, policies, busy, now)


def _skip(connection: Connection, schedule_ids: Sequence[int], reason: SkipReason, now: datetime) -> int:
    """Record the rows Skipped for `reason` and add them to the reason's count (`skip_counts`,
    for /metrics) in the same transaction. Callers go through the reasons in one order, so that
    two distributors adding to the same counts cannot deadlock."""
    if not schedule_ids:
        return 0
    skipped = update_unlocked(
        connection,
        task_schedule,
        [id_in(s.id, schedule_ids, connection), s.status == SCHEDULED],
        {"status": SKIPPED, "skip_reason": reason.value, "finished_at": now},
    )
    add_skip_count(connection, reason, skipped)
    return skipped


def _claim(
    connection: Connection, schedule_ids: Iterable[int], now: datetime, claimer: str, lease_until: datetime
) -> list[TaskMessage]:
    ids = list(schedule_ids)
    if not ids:
        return []
    update_unlocked(
        connection,
        task_schedule,
        [id_in(s.id, ids, connection), s.status == SCHEDULED],
        {"status": QUEUED, "claimed_by": claimer, "lease_expires_at": lease_until, "queued_at": now},
    )
    claimed = connection.execute(
        select(s.id, s.task_id, s.attempt, s.scheduled_time, tasks.c.task_type)
        .join(tasks, tasks.c.id == s.task_id)
        .where(
            id_in(s.id, ids, connection),
            s.status == QUEUED,
            s.claimed_by == claimer,
            s.queued_at == now,
        )
    )
    return [
        TaskMessage(
            schedule_id=int(row.id),
            task_id=int(row.task_id),
            task_type=row.task_type,
            attempt=int(row.attempt) + 1,
            scheduled_time=row.scheduled_time,
        )
        for row in claimed
    ]


def next_policy_due_time(connection: Connection, now: datetime) -> datetime | None:
    """The earliest policy row due after `now`. Those due already were decided by the last
    claim; any left `Scheduled` wait for an earlier run to end, and the poll finds them."""
    value: datetime | None = connection.execute(
        select(func.min(s.scheduled_time)).where(
            status_is(s.status, SCHEDULED), s.policy_claim, s.scheduled_time > now
        )
    ).scalar()
    return value
