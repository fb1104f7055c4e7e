"""The pure decisions of task dependencies: which outcome triggers which dependent, and which
dependency would close a cycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.core.dependencies import (
    DependencyTrigger,
    Dependent,
    DependentRow,
    UpstreamOutcome,
    dependency_cycle,
    dependent_rows,
    triggers,
)
from engine.core.types import ScheduleStatus

SUCCESS, FINISHED = DependencyTrigger.SUCCESS, DependencyTrigger.FINISHED
ENDED = datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("on", "status", "retry_pending", "fires"),
    [
        (SUCCESS, ScheduleStatus.SUCCEEDED, False, True),
        (SUCCESS, ScheduleStatus.DEAD, False, False),
        (SUCCESS, ScheduleStatus.FAILED, False, False),
        (FINISHED, ScheduleStatus.SUCCEEDED, False, True),
        (FINISHED, ScheduleStatus.DEAD, False, True),
        (FINISHED, ScheduleStatus.FAILED, False, True),  # failed for good
        (FINISHED, ScheduleStatus.FAILED, True, False),  # a retry may still succeed
        (FINISHED, ScheduleStatus.SKIPPED, False, False),  # a skipped fire time never ran
    ],
)
def test_which_outcome_triggers(
    on: DependencyTrigger, status: ScheduleStatus, retry_pending: bool, fires: bool
) -> None:
    assert triggers(on, status, retry_pending) is fires


def test_each_outcome_gives_each_waiting_dependent_one_row_at_the_upstream_end() -> None:
    dependents = [Dependent(2, 1, SUCCESS), Dependent(3, 1, FINISHED), Dependent(4, 9, FINISHED)]
    succeeded = UpstreamOutcome(10, 1, ScheduleStatus.SUCCEEDED, ENDED)
    assert dependent_rows([succeeded, succeeded], dependents) == [
        DependentRow(2, ENDED, 10),
        DependentRow(3, ENDED, 10),
    ]
    dead = UpstreamOutcome(11, 1, ScheduleStatus.DEAD, ENDED)
    assert dependent_rows([dead], dependents) == [DependentRow(3, ENDED, 11)]


@pytest.mark.parametrize(
    ("task_id", "upstream", "graph", "cycle"),
    [
        (1, 3, {2: 1, 3: 2}, [1, 3, 2, 1]),
        (1, 1, {}, [1, 1]),
        (4, 3, {2: 1, 3: 2}, None),  # a chain, no cycle
        (2, 3, {2: 1, 3: 1}, None),  # a diamond's edge moved
        (None, 3, {2: 1, 3: 2}, None),  # a new task: nothing depends on it yet
        (5, 6, {6: 7, 7: 6}, None),  # a stored cycle elsewhere does not loop forever
        (2, 3, {2: 1, 3: 2}, [2, 3, 2]),
    ],
)
def test_dependency_cycles(
    task_id: int | None, upstream: int, graph: dict[int, int], cycle: list[int] | None
) -> None:
    assert dependency_cycle(task_id, upstream, graph) == cycle
