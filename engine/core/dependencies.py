"""Task dependencies (`after: {task_id, on}`): which outcome of an upstream run triggers a run of
its dependent, and which dependency graphs are refused. Pure.

A task of kind `after` has no schedule of its own: each run of its upstream that ends with the
outcome it waits for gives it one schedule row, at the upstream run's end, carrying the
upstream row's id (`task_schedule.upstream_schedule_id`). docs/scheduling.md has the semantics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from engine.core.types import ScheduleStatus


class DependencyTrigger(StrEnum):
    SUCCESS = "success"  # the upstream run succeeded
    FINISHED = "finished"  # the upstream run ended for good: Succeeded, Failed without retry, or Dead


def is_final(status: ScheduleStatus, retry_pending: bool) -> bool:
    """Whether an outcome ends the upstream run for good: a Failed row with a retry on its
    way has not ended; Succeeded, Dead and a Failed row without a retry have."""
    if status is ScheduleStatus.FAILED:
        return not retry_pending
    return status in (ScheduleStatus.SUCCEEDED, ScheduleStatus.DEAD)


def triggers(on: DependencyTrigger, status: ScheduleStatus, retry_pending: bool) -> bool:
    """Whether an upstream outcome triggers a dependent waiting `on` it.

    `success` fires on Succeeded only; `finished` on every final outcome. Examples:
    `triggers(SUCCESS, DEAD, False)` is False, `triggers(FINISHED, DEAD, False)` is True,
    `triggers(FINISHED, FAILED, True)` is False (the retry may still succeed)."""
    if not is_final(status, retry_pending):
        return False
    return on is DependencyTrigger.FINISHED or status is ScheduleStatus.SUCCEEDED


@dataclass(frozen=True, slots=True)
class UpstreamOutcome:
    """One recorded outcome of a run of task `task_id` (its schedule row `schedule_id`)."""

    schedule_id: int
    task_id: int
    status: ScheduleStatus
    finished_at: datetime
    retry_pending: bool = False


@dataclass(frozen=True, slots=True)
class Dependent:
    """An active task waiting for runs of `upstream_task_id`."""

    task_id: int
    upstream_task_id: int
    on: DependencyTrigger


@dataclass(frozen=True, slots=True)
class DependentRow:
    """The schedule row an upstream outcome gives a dependent task."""

    task_id: int
    scheduled_time: datetime
    upstream_schedule_id: int


def dependent_rows(
    outcomes: Sequence[UpstreamOutcome], dependents: Sequence[Dependent]
) -> list[DependentRow]:
    """The rows `outcomes` give `dependents`: one per (outcome, dependent of its task) whose
    trigger the outcome meets, scheduled at the upstream's end (a second outcome of the same
    run in the batch adds nothing). Example: task 1 succeeds (row
    10, ended 12:00:03); task 2 waits `on: success` for 1, task 3 `on: finished` for 1: rows
    (2, 12:00:03, 10) and (3, 12:00:03, 10). Had it gone Dead, only (3, 12:00:03, 10)."""
    by_upstream: dict[int, list[Dependent]] = {}
    for dependent in dependents:
        by_upstream.setdefault(dependent.upstream_task_id, []).append(dependent)
    rows: dict[tuple[int, int], DependentRow] = {}
    for outcome in outcomes:
        for dependent in by_upstream.get(outcome.task_id, ()):
            key = (outcome.schedule_id, dependent.task_id)
            if key not in rows and triggers(dependent.on, outcome.status, outcome.retry_pending):
                rows[key] = DependentRow(dependent.task_id, outcome.finished_at, outcome.schedule_id)
    return list(rows.values())


def dependency_cycle(
    task_id: int | None, upstream_task_id: int, upstream_of: Mapping[int, int]
) -> list[int] | None:
    """The cycle that making `task_id` depend on `upstream_task_id` would close, as the chain of
    task ids from `task_id` back to itself, or None. `upstream_of` maps each task that has an
    upstream to it (the stored graph; `task_id`'s own entry is replaced). A new task
    (`task_id` None) closes no cycle: nothing depends on it yet.

    Example: with 2 after 1 and 3 after 2, making 1 depend on 3 gives `[1, 3, 2, 1]`; making 1
    depend on 1 gives `[1, 1]`."""
    if task_id is None:
        return None
    chain = [task_id, upstream_task_id]
    seen = {task_id}
    current = upstream_task_id
    while current not in seen:
        seen.add(current)
        nxt = upstream_of.get(current)
        if nxt is None:
            return None
        chain.append(nxt)
        current = nxt
    return chain if current == task_id else None
