"""The Scheduler around the UTC day end and through a task's life (create, edit, switch kind,
inactivate), on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from engine.adapters.tables import task_schedule
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task, set_inactive, update_task
from tests.integration.helpers import add_cron_task, schedule_rows

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 30, 20, 0, 7, 250_000, tzinfo=UTC)


def rows_of(engine: Engine, task_id: int) -> list[tuple[datetime, str]]:
    return [(time, status) for _, time, status in schedule_rows(engine, task_id)]


def set_status(engine: Engine, task_id: int, scheduled_time: datetime, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task_id, task_schedule.c.scheduled_time == scheduled_time)
            .values(status=status)
        )


def test_rows_stay_continuous_across_the_utc_day_end(db_engine: Engine) -> None:
    half_hourly = add_cron_task(db_engine, T0, "*/30 * * * *")
    midnight = add_cron_task(db_engine, T0, "0 0 * * *")

    # 20:00: the end of the day is further than now + 3 h, and midnight itself is included.
    assert run_pass(db_engine, T0).horizon == datetime(2026, 7, 1, tzinfo=UTC)
    assert [t for t, _ in rows_of(db_engine, midnight.id)] == [datetime(2026, 7, 1, tzinfo=UTC)]
    # 23:30: now + 3 h reaches past midnight.
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert run_pass(db_engine, late).horizon == late + timedelta(hours=3)
    # 00:10 the next day: the horizon is the end of the new day.
    next_day = datetime(2026, 7, 1, 0, 10, tzinfo=UTC)
    assert run_pass(db_engine, next_day).horizon == datetime(2026, 7, 2, tzinfo=UTC)

    times = [t for t, _ in rows_of(db_engine, half_hourly.id)]
    assert times[0] == datetime(2026, 6, 30, 20, 30, tzinfo=UTC)
    assert times[-1] == datetime(2026, 7, 2, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=30) for a, b in zip(times, times[1:], strict=False))
    assert [t for t, _ in rows_of(db_engine, midnight.id)] == [
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2026, 7, 2, tzinfo=UTC),
    ]


def test_a_rolling_window_never_falls_short_of_the_forecast(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, T0, "0 * * * *")
    result = run_pass(db_engine, T0, forecast_hours=3, window_hours=1)
    assert result.horizon == T0 + timedelta(hours=3)
    assert len(rows_of(db_engine, task.id)) == 3


def test_an_immediate_task_runs_at_the_moment_it_was_created_then_at_each_edit(db_engine: Engine) -> None:
    spec = TaskInput(name="welcome", task_type="notification", kind="immediate")  # type: ignore[arg-type]
    task = create_task(db_engine, spec, T0)
    run_pass(db_engine, T0 + timedelta(seconds=5))
    assert rows_of(db_engine, task.id) == [(T0, "Scheduled")]
    assert run_pass(db_engine, T0 + timedelta(seconds=6)).rows_inserted == 0

    # Edited before it ran: the pending row moves to the moment of the edit.
    t1 = T0 + timedelta(seconds=30)
    update_task(db_engine, task.id, spec, t1)
    run_pass(db_engine, t1 + timedelta(seconds=1))
    assert rows_of(db_engine, task.id) == [(t1, "Scheduled")]

    # Edited after it ran: the run stays as history and the new definition runs once more.
    set_status(db_engine, task.id, t1, "Succeeded")
    t2 = T0 + timedelta(minutes=5)
    update_task(db_engine, task.id, spec.model_copy(update={"payload": {"fixed": True}}), t2)
    run_pass(db_engine, t2 + timedelta(seconds=1))
    assert rows_of(db_engine, task.id) == [(t1, "Succeeded"), (t2, "Scheduled")]


def test_a_once_task_whose_time_passed_while_no_scheduler_ran_still_gets_its_row(db_engine: Engine) -> None:
    run_at = T0 + timedelta(minutes=1)
    spec = TaskInput(name="launch", task_type="reminder", kind="once", run_at=run_at)  # type: ignore[arg-type]
    task = create_task(db_engine, spec, T0)
    run_pass(db_engine, T0 + timedelta(hours=2))  # the Scheduler was down for two hours
    assert rows_of(db_engine, task.id) == [(run_at, "Scheduled")]


def test_a_once_task_far_beyond_the_horizon_gets_its_row_at_once(db_engine: Engine) -> None:
    run_at = T0 + timedelta(days=200)
    spec = TaskInput(name="later", task_type="reminder", kind="once", run_at=run_at)  # type: ignore[arg-type]
    task = create_task(db_engine, spec, T0)
    run_pass(db_engine, T0)
    assert rows_of(db_engine, task.id) == [(run_at, "Scheduled")]


def test_switching_kind_replaces_pending_rows_and_keeps_history(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, T0, "*/10 * * * *", name="switch")
    run_pass(db_engine, T0)
    first = rows_of(db_engine, task.id)[0][0]
    set_status(db_engine, task.id, first, "Queued")  # already handed to the broker

    # cron -> once: the cron rows still Scheduled go, the queued one stays.
    t1 = T0 + timedelta(minutes=1)
    run_at = T0 + timedelta(hours=1, minutes=7)
    once = TaskInput(name="switch", task_type="http", kind="once", run_at=run_at)  # type: ignore[arg-type]
    update_task(db_engine, task.id, once, t1)
    assert rows_of(db_engine, task.id) == [(first, "Queued")]
    run_pass(db_engine, t1)
    assert rows_of(db_engine, task.id) == [(first, "Queued"), (run_at, "Scheduled")]

    # once -> cron: rows from the moment of the edit; the old run_at row goes.
    t2 = T0 + timedelta(minutes=2)
    cron = TaskInput(
        name="switch",
        task_type="http",
        kind="cron",  # type: ignore[arg-type]
        cron_expression="5 * * * *",
        timezone="UTC",
    )
    update_task(db_engine, task.id, cron, t2)
    run_pass(db_engine, t2)
    times = [t for t, status in rows_of(db_engine, task.id) if status == "Scheduled"]
    assert times[0] == datetime(2026, 6, 30, 20, 5, tzinfo=UTC) and run_at not in times
    assert all(t.minute == 5 for t in times)

    # cron -> immediate: one row at the edit.
    t3 = T0 + timedelta(minutes=3)
    update_task(db_engine, task.id, TaskInput(name="switch", task_type="http", kind="immediate"), t3)  # type: ignore[arg-type]
    run_pass(db_engine, t3)
    assert rows_of(db_engine, task.id) == [(t3, "Scheduled"), (first, "Queued")]


def test_inactive_then_active_again_resumes_from_the_reactivation(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, T0, "0 * * * *", name="pausable")
    run_pass(db_engine, T0)
    set_inactive(db_engine, task.id, T0 + timedelta(minutes=1))
    assert rows_of(db_engine, task.id) == []
    assert run_pass(db_engine, T0 + timedelta(hours=2)).rows_inserted == 0

    back = T0 + timedelta(hours=2, minutes=30)
    spec = TaskInput(
        name="pausable",
        task_type="http",
        kind="cron",  # type: ignore[arg-type]
        cron_expression="0 * * * *",
        timezone="UTC",
    )
    update_task(db_engine, task.id, spec, back)
    run_pass(db_engine, back)
    times = [t for t, _ in rows_of(db_engine, task.id)]
    assert times[0] == datetime(2026, 6, 30, 23, tzinfo=UTC)  # nothing for the paused hours


def test_fire_times_missed_while_no_scheduler_ran_are_added_late_not_skipped(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, T0, "0 */6 * * *", name="six-hourly")
    run_pass(db_engine, T0)  # rows up to midnight
    back = datetime(2026, 7, 2, 13, tzinfo=UTC)  # the Scheduler was down since
    run_pass(db_engine, back)
    times = [t for t, _ in rows_of(db_engine, task.id)]
    assert times == [datetime(2026, 7, 1, h, tzinfo=UTC) for h in (0, 6, 12, 18)] + [
        datetime(2026, 7, 2, h, tzinfo=UTC) for h in (0, 6, 12, 18)
    ] + [datetime(2026, 7, 3, tzinfo=UTC)]
