"""The Processor's writes on PostgreSQL and SQLite: starts, finishes, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from engine.adapters.run_store import FinishedRun, finish_runs, renew_leases, start_runs
from engine.adapters.tables import task_runs, task_schedule
from engine.core.leases import StartAction
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_tasks

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)


def queued_rows(engine: Engine, count: int) -> list[TaskMessage]:
    add_tasks(engine, count, NOW, {"k": "v"})
    run_pass(engine, NOW)
    with engine.begin() as connection:
        connection.execute(update(task_schedule).values(status="Queued"))
        rows = connection.execute(select(task_schedule.c.id, task_schedule.c.task_id).order_by("id")).all()
    return [TaskMessage(row.id, row.task_id, "http", 1, NOW) for row in rows]


def test_start_sets_running_with_lease_and_lag_and_answers_duplicates(db_engine: Engine) -> None:
    first, second = queued_rows(db_engine, 2)
    with db_engine.begin() as connection:
        started, others = start_runs(
            connection, [first, second, first], "p1", NOW + timedelta(seconds=2), LEASE
        )
    assert [run.message.schedule_id for run in started] == [first.schedule_id, second.schedule_id]
    assert started[0].context.payload == {"k": "v"} and started[0].context.timeout_s == 30
    assert [(m.schedule_id, d.action) for m, d in others] == [(first.schedule_id, StartAction.DEFER)]
    with db_engine.connect() as connection:
        row = connection.execute(select(task_schedule).where(task_schedule.c.id == first.schedule_id)).one()
    assert (row.status, row.attempt, row.claimed_by, row.lease_expires_at, row.start_lag_ms) == (
        "Running",
        1,
        "p1",
        LEASE,
        2_000,
    )


def test_finishing_twice_records_one_run(db_engine: Engine) -> None:
    [message] = queued_rows(db_engine, 1)
    with db_engine.begin() as connection:
        [run], _ = start_runs(connection, [message], "p1", NOW, LEASE)
    done = FinishedRun(run, ScheduleStatus.SUCCEEDED, NOW + timedelta(seconds=1), 1_000, "succeeded", "ok")
    with db_engine.begin() as connection:
        assert finish_runs(connection, [done], "p1") == {message.schedule_id}
    with db_engine.begin() as connection:  # the same batch again, as after a lost commit reply
        assert finish_runs(connection, [done], "p1") == set()
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(task_runs)).scalar_one() == 1


def test_only_runs_in_progress_keep_their_lease(db_engine: Engine) -> None:
    running, orphaned = queued_rows(db_engine, 2)
    with db_engine.begin() as connection:
        start_runs(connection, [running, orphaned], "p1", NOW, LEASE)
        later = LEASE + timedelta(seconds=30)
        assert renew_leases(connection, "p1", [running.schedule_id], later) == 1
    with db_engine.connect() as connection:
        leases = dict(connection.execute(select(task_schedule.c.id, task_schedule.c.lease_expires_at)).all())
    assert leases == {running.schedule_id: later, orphaned.schedule_id: LEASE}
