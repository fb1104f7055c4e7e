"""The in-memory run store (`tests/unit/fake_stores.py`) and the SQL one, on both dialects,
given the same calls, answer the same and leave the rows in the same states: what the
processes are tested against without a database is what they get with one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.sql_stores import SqlDistributionStore, SqlReconcileStore, SqlRunStore, SqlScheduleStore
from engine.adapters.tables import task_schedule, tasks
from engine.core.reconcile import stuck_kind
from engine.core.runs import FinishedRun
from engine.core.types import ScheduleStatus, TaskKind
from engine.ports import DistributionStore, ReconcileStore, RunStore, ScheduleStore
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_cron_task, add_tasks
from tests.integration.test_run_store import LEASE, NOW, queued_rows
from tests.unit.fake_stores import (
    FakeDatabase,
    FakeDistributionStore,
    FakeReconcileStore,
    FakeRow,
    FakeRunStore,
    FakeScheduleStore,
    FakeTask,
)

pytestmark = pytest.mark.integration


def rows_of(engine: Engine) -> dict[int, tuple[str, int, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                task_schedule.c.id,
                task_schedule.c.status,
                task_schedule.c.attempt,
                task_schedule.c.claimed_by,
            )
        )
        return {int(row.id): (row.status, int(row.attempt), row.claimed_by) for row in rows}


def scenario(store: RunStore, messages: list[Any]) -> list[object]:
    """Starts with a duplicate, a success, a take-over refused to the processor that lost the
    row, a give-back, and a start of a given-back row: every answer, in order."""
    first, second, third = messages
    answers: list[object] = []
    started, others = store.start_runs([first, second, first, third], "p1", NOW, LEASE)
    answers.append(sorted(run.message.schedule_id for run in started))
    answers.append([(m.schedule_id, d.action.value) for m, d in others])
    run = {r.message.schedule_id: r for r in started}
    done = FinishedRun(run[first.schedule_id], ScheduleStatus.SUCCEEDED, NOW, 5, "succeeded", "ok")
    answers.append(store.finish_runs([done], "p1"))
    answers.append(store.finish_runs([done], "p1"))  # recorded once
    later = LEASE + timedelta(seconds=1)  # p1's lease lapsed: p2 takes the third row over
    taken, _ = store.start_runs([third], "p2", later, later + timedelta(seconds=30))
    answers.append([r.message.schedule_id for r in taken])
    lost = FinishedRun(run[third.schedule_id], ScheduleStatus.FAILED, later, 5, "error", error="late")
    answers.append(store.finish_runs([lost], "p1"))
    answers.append(store.give_back_runs([run[second.schedule_id], run[third.schedule_id]], "p1", later))
    again, _ = store.start_runs([second], "p2", later, later + timedelta(seconds=30))
    answers.append([r.message.schedule_id for r in again])
    answers.append(store.bury_unstartable(first.schedule_id, "refused", later))
    return answers


def test_the_fake_run_store_answers_and_moves_rows_as_the_sql_one_does(db_engine: Engine) -> None:
    messages = queued_rows(db_engine, 3)
    db = FakeDatabase()
    with db_engine.connect() as connection:
        for row in connection.execute(select(task_schedule)):
            db.rows[row.id] = FakeRow(
                row.id, row.task_id, "http", row.scheduled_time, ScheduleStatus(row.status)
            )

    sql_answers = scenario(SqlRunStore(db_engine), messages)
    fake_answers = scenario(FakeRunStore(db), messages)

    assert fake_answers == sql_answers
    assert {row.id: (row.status.value, row.attempt, row.claimed_by) for row in db.rows.values()} == rows_of(
        db_engine
    )
    assert sql_answers[2] == {messages[0].schedule_id} and sql_answers[3] == set()


def mirror(engine: Engine) -> FakeDatabase:
    db = FakeDatabase()
    with engine.connect() as connection:
        for row in connection.execute(select(task_schedule)):
            db.rows[row.id] = FakeRow(
                row.id,
                row.task_id,
                "http",
                row.scheduled_time,
                ScheduleStatus(row.status),
                row.attempt,
                row.claimed_by,
                row.lease_expires_at,
                row.queued_at,
                row.next_attempt_at,
                row.started_at,
                row.finished_at,
            )
    return db


def test_the_fake_distribution_store_claims_settles_and_sweeps_as_the_sql_one_does(db_engine: Engine) -> None:
    add_tasks(db_engine, 3, NOW, {})
    run_pass(db_engine, NOW)
    db = mirror(db_engine)

    def scenario(store: DistributionStore) -> list[object]:
        claim = store.claim(NOW, 2, "d1", LEASE, [])
        ids = [m.schedule_id for m in claim.messages]
        answers: list[object] = [[(m.schedule_id, m.attempt) for m in claim.messages], claim.swept]
        answers.append(store.settle(ids[:1], ids[1:], "d1", NOW))
        again = store.claim(NOW, 10, "d1", LEASE, [])
        answers.append([m.schedule_id for m in again.messages])
        later = LEASE + timedelta(seconds=1)  # d1 died before handing these over: swept
        swept = store.claim(later, 10, "d2", later + timedelta(seconds=30), [])
        answers.append(([m.schedule_id for m in swept.messages], swept.swept))
        answers.append(store.hand_over([m.schedule_id for m in swept.messages], "d1"))  # not d1's
        answers.append(store.hand_over([m.schedule_id for m in swept.messages], "d2"))
        answers.append(store.next_due_time(later))
        return answers

    sql_answers = scenario(SqlDistributionStore(db_engine))
    assert scenario(FakeDistributionStore(db)) == sql_answers
    assert {row.id: (row.status.value, row.attempt, row.claimed_by) for row in db.rows.values()} == rows_of(
        db_engine
    )
    assert sql_answers[4] == ([2, 3], 2)


def test_the_fake_reconcile_store_finds_and_drives_on_as_the_sql_one_does(db_engine: Engine) -> None:
    add_tasks(db_engine, 6, NOW, {})
    run_pass(db_engine, NOW)
    old = NOW - timedelta(hours=1)
    states: list[dict[str, Any]] = [
        {"status": "Queued", "queued_at": old},  # handed over, never started
        {"status": "Queued", "queued_at": old, "lease_expires_at": NOW},  # the sweep's
        {"status": "Running", "attempt": 2, "claimed_by": "p1", "lease_expires_at": NOW},
        {"status": "Running", "attempt": 1, "claimed_by": "p1", "lease_expires_at": LEASE},  # alive
        {"status": "Failed", "attempt": 1, "next_attempt_at": old, "finished_at": old},
        {"status": "Succeeded", "attempt": 1, "finished_at": old},
    ]
    with db_engine.begin() as connection:
        for row_id, values in enumerate(states, start=1):
            connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))
    db = mirror(db_engine)

    def scenario(store: ReconcileStore) -> list[object]:
        found = store.find_stuck_rows(NOW, 600, 10)
        kinds = [(row, kind) for row in found if (kind := stuck_kind(row, NOW, 600))]
        return [
            sorted(row.id for row in found),
            sorted(store.redrive_rows(kinds).items()),
            store.redrive_rows(kinds),
        ]

    sql_answers = scenario(SqlReconcileStore(db_engine))
    assert scenario(FakeReconcileStore(db)) == sql_answers
    assert {row.id: (row.status.value, row.attempt, row.claimed_by) for row in db.rows.values()} == rows_of(
        db_engine
    )
    assert sql_answers[0] == [1, 3, 5]


def test_the_fake_schedule_store_materialises_as_the_sql_one_does(db_engine: Engine) -> None:
    add_cron_task(db_engine, NOW, "*/20 * * * *", "Europe/Berlin")
    add_tasks(db_engine, 2, NOW, {})
    add_tasks(db_engine, 1, NOW, {}, kind="once", run_at=NOW + timedelta(minutes=5))
    db = FakeDatabase()
    with db_engine.connect() as connection:
        for task in connection.execute(select(tasks)):
            db.tasks[task.id] = FakeTask(
                task.id,
                TaskKind(task.kind),
                cron_expression=task.cron_expression,
                timezone=task.timezone,
                run_at=task.run_at,
                updated_at=task.updated_at,
                materialized_until=task.materialized_until,
            )

    def scenario(store: ScheduleStore) -> list[object]:
        passes = [
            run_pass(None, NOW, 1, 1, store=store),
            run_pass(None, NOW, 1, 1, store=store),
            run_pass(None, NOW + timedelta(hours=1), 1, 1, store=store, only_unmaterialised=True),
            run_pass(None, NOW + timedelta(hours=1), 1, 1, store=store),
        ]
        return [(p.tasks_expanded, p.rows_inserted) for p in passes]

    sql_answers = scenario(SqlScheduleStore(db_engine))
    assert scenario(FakeScheduleStore(db)) == sql_answers
    with db_engine.connect() as connection:
        sql_rows = {(row.task_id, row.scheduled_time) for row in connection.execute(select(task_schedule))}
        marks = {row.id: row.materialized_until for row in connection.execute(select(tasks))}
    assert {(row.task_id, row.scheduled_time) for row in db.rows.values()} == sql_rows
    assert {task.id: task.materialized_until for task in db.tasks.values()} == marks
    assert sql_answers == [(4, 6), (0, 0), (0, 0), (1, 3)]
