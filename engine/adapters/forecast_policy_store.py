"""The forecast's reads of what `queue` overlap, ordering keys and dependencies move
(`engine.core.forecast_policies`): small, index-backed reads of policy rows and `after` tasks."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in
from engine.adapters.tables import task_schedule, tasks
from engine.core.forecast_policies import PlannedRun
from engine.core.policies import OverlapPolicy
from engine.core.types import ScheduleStatus, TaskKind


def load_serialised_runs(
    connection: Connection, start: datetime, end: datetime
) -> tuple[list[list[PlannedRun]], set[int]]:
    """The `Scheduled` runs in [start, end) that serialise: one group per `queue` task and one
    per ordering key; and the keyed tasks with `overlap: skip`, whose runs may be skipped in
    their key (`engine.core.forecast_policies.starts_in_key`). A range of the partial index of
    policy rows (task_schedule_policy_due): tasks without policies cost nothing here."""
    s = task_schedule.c
    query = (
        select(s.task_id, s.task_type, s.scheduled_time, tasks.c.overlap_policy, tasks.c.ordering_key)
        .join(tasks, tasks.c.id == s.task_id)
        .where(
            s.status == ScheduleStatus.SCHEDULED.value,
            s.policy_claim,  # bare, as in load_skip_task_fire_times: the index's predicate
            s.scheduled_time >= start,
            s.scheduled_time < end,
            (tasks.c.overlap_policy == OverlapPolicy.QUEUE.value) | tasks.c.ordering_key.is_not(None),
        )
    )
    groups: dict[object, list[PlannedRun]] = defaultdict(list)
    skip_tasks: set[int] = set()
    for row in connection.execute(query):
        group = ("key", row.ordering_key) if row.ordering_key is not None else ("task", int(row.task_id))
        groups[group].append(PlannedRun(int(row.task_id), row.task_type, row.scheduled_time))
        if row.ordering_key is not None and row.overlap_policy == OverlapPolicy.SKIP.value:
            skip_tasks.add(int(row.task_id))
    return list(groups.values()), skip_tasks


def load_dependency_plan(
    connection: Connection, start: datetime, end: datetime
) -> tuple[dict[int, list[tuple[int, str]]], list[PlannedRun]]:
    """The active `after` tasks by upstream task id ((task id, type) pairs; the partial index
    tasks_after_task), and the `Scheduled` runs of their upstreams in [start, end) (the
    index of one row per (task, fire time))."""
    t = tasks.c
    dependents: dict[int, list[tuple[int, str]]] = defaultdict(list)
    found = connection.execute(
        select(t.id, t.task_type, t.after_task_id).where(
            t.after_task_id.is_not(None), t.active.is_(True), t.kind == TaskKind.AFTER.value
        )
    )
    for row in found:
        dependents[int(row.after_task_id)].append((int(row.id), row.task_type))
    if not dependents:
        return {}, []
    s = task_schedule.c
    query = select(s.task_id, s.task_type, s.scheduled_time).where(
        id_in(s.task_id, sorted(dependents), connection),
        s.status == ScheduleStatus.SCHEDULED.value,
        s.scheduled_time >= start,
        s.scheduled_time < end,
    )
    runs = [
        PlannedRun(int(row.task_id), row.task_type, row.scheduled_time) for row in connection.execute(query)
    ]
    return dict(dependents), runs
