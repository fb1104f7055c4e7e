"""Task dependencies on PostgreSQL and SQLite: an upstream run's outcome gives its `after` tasks
their row, in the outcome's transaction, once; cycles and unknown upstreams are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.dependency_store import add_dependent_rows
from engine.adapters.run_store import FinishedRun, bury_unstartable, finish_runs, start_runs
from engine.adapters.tables import task_schedule
from engine.core.dependencies import UpstreamOutcome
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus
from engine.processes.scheduler import run_pass
from engine.services.schemas import FieldProblem, TaskInput
from engine.services.tasks import create_task, edit_task, get_task, set_inactive, update_task

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)
ENDED = NOW + timedelta(seconds=3)


def task(engine: Engine, name: str, **fields: Any) -> int:
    spec = {"name": name, "task_type": "http", "kind": "immediate"} | fields
    return create_task(engine, TaskInput.model_validate(spec), NOW).id


def after(engine: Engine, name: str, upstream: int, on: str = "success") -> int:
    return task(engine, name, kind="after", after={"task_id": upstream, "on": on})


def run_upstream(engine: Engine, task_id: int) -> Any:
    """Schedule and start the immediate task's run; returns the started run."""
    run_pass(engine, NOW)
    with engine.begin() as connection:
        schedule_id = connection.execute(
            select(task_schedule.c.id).where(task_schedule.c.task_id == task_id)
        ).scalar_one()
        connection.execute(
            update(task_schedule).where(task_schedule.c.id == schedule_id).values(status="Queued")
        )
        message = TaskMessage(schedule_id, task_id, "http", 1, NOW)
        [run], _ = start_runs(connection, [message], "p1", NOW, LEASE)
    return run


def finish(engine: Engine, run: Any, status: ScheduleStatus, retry_at: datetime | None = None) -> set[int]:
    done = FinishedRun(run, status, ENDED, 3_000, status.value.lower(), next_attempt_at=retry_at)
    with engine.begin() as connection:
        return finish_runs(connection, [done], "p1")


def rows_of(engine: Engine, task_id: int) -> list[tuple[Any, ...]]:
    s = task_schedule.c
    with engine.connect() as connection:
        query = select(s.status, s.scheduled_time, s.upstream_schedule_id).where(s.task_id == task_id)
        return [tuple(row) for row in connection.execute(query.order_by(s.id))]


def test_a_success_gives_the_dependent_one_row_with_the_upstream_run_even_when_written_again(
    db_engine: Engine,
) -> None:
    upstream = task(db_engine, "extract")
    dependent = after(db_engine, "load", upstream)
    run = run_upstream(db_engine, upstream)
    assert rows_of(db_engine, dependent) == []  # no schedule of its own: the pass gave it none
    assert finish(db_engine, run, ScheduleStatus.SUCCEEDED) == {run.message.schedule_id}
    assert finish(db_engine, run, ScheduleStatus.SUCCEEDED) == set()  # a lost commit reply, retried
    outcome = UpstreamOutcome(run.message.schedule_id, upstream, ScheduleStatus.SUCCEEDED, ENDED)
    with db_engine.begin() as connection:  # the dependent row write itself, repeated
        assert add_dependent_rows(connection, [outcome, outcome]) == 0
    assert rows_of(db_engine, dependent) == [("Scheduled", ENDED, run.message.schedule_id)]


def test_success_waits_for_a_success_and_finished_for_any_final_outcome(db_engine: Engine) -> None:
    upstream = task(db_engine, "extract")
    on_success = after(db_engine, "load", upstream, "success")
    on_finished = after(db_engine, "clean up", upstream, "finished")
    run = run_upstream(db_engine, upstream)
    finish(db_engine, run, ScheduleStatus.FAILED, retry_at=ENDED + timedelta(seconds=5))
    assert rows_of(db_engine, on_finished) == []  # a retry is on its way: the run has not ended
    with db_engine.begin() as connection:
        connection.execute(update(task_schedule).values(status="Running", attempt=1, next_attempt_at=None))
    finish(db_engine, run, ScheduleStatus.DEAD)
    assert rows_of(db_engine, on_success) == []
    assert rows_of(db_engine, on_finished) == [("Scheduled", ENDED, run.message.schedule_id)]


def test_a_row_buried_unstartable_has_ended_for_finished_dependents(db_engine: Engine) -> None:
    upstream = task(db_engine, "extract")
    on_finished = after(db_engine, "clean up", upstream, "finished")
    run_pass(db_engine, NOW)
    with db_engine.begin() as connection:
        schedule_id = connection.execute(select(task_schedule.c.id)).scalar_one()
        assert bury_unstartable(connection, schedule_id, "payload refused", ENDED)
    assert rows_of(db_engine, on_finished) == [("Scheduled", ENDED, schedule_id)]


def test_an_inactive_dependent_is_not_triggered_and_an_inactive_upstream_is_reported(
    db_engine: Engine,
) -> None:
    upstream = task(db_engine, "extract")
    dependent = after(db_engine, "load", upstream)
    inactive_upstream = set_inactive(db_engine, upstream, NOW)
    assert inactive_upstream.warnings == (
        f"task is inactive: its active dependent tasks {dependent} are not triggered",
    )
    assert get_task(db_engine, dependent, NOW).warnings == (
        f"upstream task {upstream} is inactive: this task is not triggered",
    )
    set_inactive(db_engine, dependent, NOW)
    with db_engine.begin() as connection:
        outcome = UpstreamOutcome(1, upstream, ScheduleStatus.SUCCEEDED, ENDED)
        assert add_dependent_rows(connection, [outcome]) == 0


def test_cycles_self_dependency_and_unknown_upstreams_are_refused_on_after(db_engine: Engine) -> None:
    first = task(db_engine, "a")
    second = after(db_engine, "b", first)
    third = after(db_engine, "c", second)
    with pytest.raises(FieldProblem) as cycle:
        edit_task(db_engine, first, {"kind": "after", "after": {"task_id": third, "on": "success"}}, NOW)
    assert cycle.value.field == "after"
    assert f"{first} -> {third} -> {second} -> {first}" in cycle.value.message
    with pytest.raises(FieldProblem) as itself:
        edit_task(db_engine, second, {"after": {"task_id": second, "on": "success"}}, NOW)
    assert itself.value.field == "after"
    with pytest.raises(FieldProblem) as unknown:
        after(db_engine, "d", 999_999)
    assert unknown.value.field == "after"
    spec = TaskInput.model_validate(
        {"name": "b", "task_type": "http", "kind": "after", "after": {"task_id": third, "on": "finished"}}
    )
    with pytest.raises(FieldProblem):
        update_task(db_engine, second, spec, NOW)
    assert get_task(db_engine, first).after is None  # nothing was changed


def test_an_edit_keeps_the_rows_an_upstream_triggered(db_engine: Engine) -> None:
    upstream = task(db_engine, "extract")
    dependent = after(db_engine, "load", upstream)
    run = run_upstream(db_engine, upstream)
    finish(db_engine, run, ScheduleStatus.SUCCEEDED)
    edit_task(db_engine, dependent, {"after": {"task_id": upstream, "on": "finished"}}, NOW)
    assert len(rows_of(db_engine, dependent)) == 1
    set_inactive(db_engine, dependent, NOW)
    assert rows_of(db_engine, dependent) == []


def test_an_after_task_becomes_a_cron_task_and_back_by_an_edit(db_engine: Engine) -> None:
    upstream = task(db_engine, "extract")
    dependent = after(db_engine, "load", upstream)
    cron = edit_task(db_engine, dependent, {"kind": "cron", "cron_expression": "*/5 * * * *"}, NOW)
    assert (cron.kind.value, cron.after, cron.cron_expression) == ("cron", None, "*/5 * * * *")
    back = edit_task(
        db_engine, dependent, {"kind": "after", "after": {"task_id": upstream, "on": "finished"}}, NOW
    )
    assert (back.cron_expression, back.after is not None) == (None, True)
