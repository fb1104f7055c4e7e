"""The in-memory run store (`tests/unit/fake_stores.py`) and the SQL one, on both dialects,
given the same calls, answer the same and leave the rows in the same states: what the
processes are tested against without a database is what they get with one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from engine.adapters.sql_stores import SqlRunStore
from engine.adapters.tables import task_schedule
from engine.core.runs import FinishedRun
from engine.core.types import ScheduleStatus
from engine.ports import RunStore
from tests.integration.test_run_store import LEASE, NOW, queued_rows
from tests.unit.fake_stores import FakeDatabase, FakeRow, FakeRunStore

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
