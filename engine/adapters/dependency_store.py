"""The rows upstream outcomes give `after` tasks, written in the transaction that records the
outcomes (`engine.adapters.run_store.finish_runs`): a crash loses both or neither.

Which outcome triggers which dependent is `engine.core.dependencies.dependent_rows`. Each
dependent row is written at most once per upstream run: the outcome itself is recorded once
(its transition names the `Running` row and attempt it replaces, under the row's lock), rows
an upstream run already triggered are left out (a replayed dead letter that ends again), and
the insert gives way to the unique constraints (on SQLite `(upstream_schedule_id, task_id)`;
on PostgreSQL, whose unique indexes must hold the partition key, `(task_id, scheduled_time)`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in
from engine.adapters.schedule_store import uses_policies
from engine.adapters.tables import task_schedule, tasks
from engine.core.dependencies import DependencyTrigger, Dependent, UpstreamOutcome, dependent_rows
from engine.core.types import ScheduleStatus, TaskKind


def add_dependent_rows(connection: Connection, outcomes: Sequence[UpstreamOutcome]) -> int:
    """Give the active `after` tasks of these outcomes' tasks the rows the outcomes trigger,
    `Scheduled` at the upstream run's end with its id. Returns how many rows were added.
    One indexed read when no task depends on the finished ones (`tasks_after_task`)."""
    if not outcomes:
        return 0
    t = tasks.c
    found = connection.execute(
        select(t.id, t.after_task_id, t.after_on, t.overlap_policy, t.misfire_policy, t.ordering_key).where(
            id_in(t.after_task_id, sorted({o.task_id for o in outcomes}), connection),
            t.active.is_(True),
            t.kind == TaskKind.AFTER.value,
        )
    ).all()
    if not found:
        return 0
    dependents = [Dependent(int(r.id), int(r.after_task_id), DependencyTrigger(r.after_on)) for r in found]
    by_policy = {int(r.id): uses_policies(r.overlap_policy, r.misfire_policy, r.ordering_key) for r in found}
    rows = dependent_rows(outcomes, dependents)
    if not rows:
        return 0
    s = task_schedule.c
    pairs = [(row.upstream_schedule_id, row.task_id) for row in rows]
    upstream_and_task = tuple_(s.upstream_schedule_id, s.task_id)
    found_pairs = select(s.upstream_schedule_id, s.task_id).where(upstream_and_task.in_(pairs))
    existing = {(int(row[0]), int(row[1])) for row in connection.execute(found_pairs)}
    values = [
        {
            "task_id": row.task_id,
            "scheduled_time": row.scheduled_time,
            "status": ScheduleStatus.SCHEDULED.value,
            "attempt": 0,
            "policy_claim": by_policy[row.task_id],
            "upstream_schedule_id": row.upstream_schedule_id,
        }
        for row in rows
        if (row.upstream_schedule_id, row.task_id) not in existing
    ]
    if not values:
        return 0
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    result = connection.execute(insert(task_schedule).on_conflict_do_nothing(), values)
    return max(0, int(result.rowcount))
