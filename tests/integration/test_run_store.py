"""The Processor's writes on PostgreSQL and SQLite: starts, finishes, leases."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update

from engine.adapters.partition_store import ensure_partitions
from engine.adapters.run_store import (
    FinishedRun,
    _run_rows,
    finish_runs,
    give_back_runs,
    renew_leases,
    start_runs,
    week_span,
)
from engine.adapters.sql_queries import bound_query, named_query
from engine.adapters.tables import task_runs, task_schedule
from engine.core.leases import MAX_LAG_MS, RowState, StartAction, decide_start, start_lag_ms
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


def row_in_state(engine: Engine, case: str, task_type: str, **state: Any) -> int:
    """One task of `task_type` with payload {"case": case}; its schedule row set to `state`."""
    [task_id] = add_tasks(engine, 1, NOW, {"case": case}, task_type=task_type)
    run_pass(engine, NOW)
    with engine.begin() as connection:
        row_id = connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task_id)
            .values(**state)
            .returning(task_schedule.c.id)
        ).scalar_one()
    return int(row_id)


def test_mixed_batch_starts_waiting_and_orphaned_rows_and_answers_the_rest(db_engine: Engine) -> None:
    live, expired = NOW + timedelta(seconds=10), NOW - timedelta(seconds=1)
    held_by_p2 = {"status": "Running", "claimed_by": "p2"}
    ids = {
        # Queued under a distributor's lease not yet handed over: the processor's replaces it.
        "queued": row_in_state(
            db_engine, "queued", "http", status="Queued", claimed_by="d1", lease_expires_at=live
        ),
        "scheduled": row_in_state(db_engine, "scheduled", "reminder", status="Scheduled"),
        "retry": row_in_state(
            db_engine, "retry", "notification", status="Failed", attempt=1, next_attempt_at=NOW
        ),
        "busy": row_in_state(db_engine, "busy", "http", **held_by_p2, attempt=1, lease_expires_at=live),
        "orphan": row_in_state(
            db_engine, "orphan", "reminder", **held_by_p2, attempt=2, lease_expires_at=expired
        ),
        "done": row_in_state(db_engine, "done", "http", status="Succeeded", attempt=1),
        "dead": row_in_state(db_engine, "dead", "http", status="Dead", attempt=3, finished_at=NOW),
    }
    attempts = {"queued": 1, "scheduled": 1, "retry": 2, "busy": 1, "orphan": 2, "done": 1, "dead": 3}
    messages = [TaskMessage(ids[case], 0, "http", attempt, NOW) for case, attempt in attempts.items()]
    missing = TaskMessage(max(ids.values()) + 1_000, 0, "http", 1, NOW)
    with db_engine.begin() as connection:
        started, others = start_runs(connection, [*messages, missing], "p1", NOW, LEASE)

    # Payload and type come from the row (every message says "http").
    runs = {run.context.schedule_id: run.context for run in started}
    assert {row_id: (c.payload, c.task_type, c.attempt) for row_id, c in runs.items()} == {
        ids["queued"]: ({"case": "queued"}, "http", 1),
        ids["scheduled"]: ({"case": "scheduled"}, "reminder", 1),
        ids["retry"]: ({"case": "retry"}, "notification", 2),
        ids["orphan"]: ({"case": "orphan"}, "reminder", 2),
    }
    answers = {m.schedule_id: (d.action, d.delay_ms) for m, d in others}
    assert answers == {
        ids["busy"]: (StartAction.DEFER, 10_500),
        ids["done"]: (StartAction.DROP, 0),
        ids["dead"]: (StartAction.DEAD_AGAIN, 0),
        missing.schedule_id: (StartAction.DROP, 0),
    }
    with db_engine.connect() as connection:
        rows = {
            row.id: (row.status, row.attempt, row.claimed_by, row.lease_expires_at, row.next_attempt_at)
            for row in connection.execute(select(task_schedule))
        }
    assert {case: rows[row_id] for case, row_id in ids.items()} == {
        "queued": ("Running", 1, "p1", LEASE, None),
        "scheduled": ("Running", 1, "p1", LEASE, None),
        "retry": ("Running", 2, "p1", LEASE, None),
        "busy": ("Running", 1, "p2", live, None),
        "orphan": ("Running", 2, "p1", LEASE, None),
        "done": ("Succeeded", 1, None, None, None),
        "dead": ("Dead", 3, None, None, None),
    }


# (status, attempt, next_attempt_at set, lease in the future) of a row before a start.
ROW_STATES = [
    ("Scheduled", 0, False, False),
    ("Queued", 0, False, False),
    ("Queued", 1, False, False),
    ("Failed", 0, True, False),
    ("Failed", 1, True, False),
    ("Failed", 1, False, False),
    ("Running", 1, False, False),
    ("Running", 1, False, True),
    ("Succeeded", 1, False, False),
    ("Dead", 1, False, False),
]


def test_the_batch_start_statement_starts_exactly_what_decide_start_starts_from_waiting(
    db_engine: Engine,
) -> None:
    """`start_waiting_rows` is the batch form of decide_start's normal START (a row waiting
    for the message's attempt); everything else must be left to the decided path."""
    messages = queued_rows(db_engine, 2 * len(ROW_STATES))
    cases = []
    with db_engine.begin() as connection:
        for index, message in enumerate(messages):
            status, attempt, retry_pending, live = ROW_STATES[index // 2]
            state = RowState(
                ScheduleStatus(status),
                attempt,
                NOW + timedelta(seconds=5) if live else NOW - timedelta(seconds=5),
                NOW if retry_pending else None,
            )
            connection.execute(
                update(task_schedule)
                .where(task_schedule.c.id == message.schedule_id)
                .values(
                    status=status,
                    attempt=attempt,
                    lease_expires_at=state.lease_expires_at,
                    next_attempt_at=state.next_attempt_at,
                )
            )
            cases.append((message.schedule_id, 1 + index % 2, state))
        values = {
            "messages": json.dumps([(schedule_id, attempt) for schedule_id, attempt, _ in cases]),
            "now": NOW,
            "me": "p1",
            "lease_until": LEASE,
            **week_span([m.scheduled_time for m in messages]),
        }
        started = {
            int(row.id) for row in connection.execute(bound_query(connection, "start_waiting_rows"), values)
        }
    expected = set()
    for schedule_id, attempt, state in cases:
        decision = decide_start(state, attempt, NOW)
        if decision.action is StartAction.START and decision.expected_status is not ScheduleStatus.RUNNING:
            expected.add(schedule_id)
    assert started == expected
    assert len(expected) == 5  # Scheduled, Queued and retry-pending Failed one attempt behind


def test_runs_given_back_are_queued_at_the_previous_attempt_once(db_engine: Engine) -> None:
    first, second = queued_rows(db_engine, 2)
    with db_engine.begin() as connection:
        runs, _ = start_runs(connection, [first, second], "p1", NOW, LEASE)
    later = NOW + timedelta(seconds=3)
    with db_engine.begin() as connection:
        assert give_back_runs(connection, runs, "p2", later) == 0  # not its runs
        assert give_back_runs(connection, runs, "p1", later) == 2
        assert give_back_runs(connection, runs, "p1", later) == 0
    with db_engine.connect() as connection:
        rows = connection.execute(
            select(
                task_schedule.c.status,
                task_schedule.c.attempt,
                task_schedule.c.claimed_by,
                task_schedule.c.queued_at,
            )
        ).all()
    assert [tuple(row) for row in rows] == [("Queued", 0, None, later)] * 2


def test_a_message_with_a_wrong_scheduled_time_still_starts_its_row(db_engine: Engine) -> None:
    """The batch start reads only the weeks its messages' times span (partitions, 0011); a
    row outside them is left to the decided path, which reads it by id and starts it."""
    (message,) = queued_rows(db_engine, 1)
    wrong = replace(message, scheduled_time=NOW - timedelta(days=400))
    with db_engine.begin() as connection:
        started, others = start_runs(connection, [wrong], "p1", NOW + timedelta(seconds=2), LEASE)
    assert [run.message.schedule_id for run in started] == [message.schedule_id] and others == []


def test_outcomes_find_their_rows_by_the_rows_own_time_not_the_messages(db_engine: Engine) -> None:
    """The outcome's write names each row by its whole key (id, scheduled_time): the time
    the start read from the row, whatever time the message carried (the batch path for a
    time in the row's week, the decided path for one 400 days off)."""
    first, second = queued_rows(db_engine, 2)
    near = replace(first, scheduled_time=NOW + timedelta(minutes=7))
    far = replace(second, scheduled_time=NOW - timedelta(days=400))
    with db_engine.begin() as connection:
        runs, _ = start_runs(connection, [near, far], "p1", NOW, LEASE)
    assert [run.scheduled_time for run in runs] == [NOW, NOW]
    finished = [FinishedRun(run, ScheduleStatus.SUCCEEDED, NOW, 5, "succeeded") for run in runs]
    with db_engine.begin() as connection:
        assert finish_runs(connection, finished, "p1") == {first.schedule_id, second.schedule_id}
    with db_engine.connect() as connection:
        statuses = connection.execute(select(task_schedule.c.status)).scalars().all()
        recorded = connection.execute(select(task_runs.c.scheduled_time)).scalars().all()
    assert statuses == ["Succeeded"] * 2 and recorded == [NOW, NOW]


def test_one_finish_records_runs_of_rows_weeks_apart(db_engine: Engine) -> None:
    """A batch whose rows lie in different weeks (partitions) finishes every one of them."""
    first, second = queued_rows(db_engine, 2)
    later = NOW + timedelta(days=9)
    with db_engine.begin() as connection:
        connection.execute(
            update(task_schedule).where(task_schedule.c.id == second.schedule_id).values(scheduled_time=later)
        )
    second = replace(second, scheduled_time=later)
    with db_engine.begin() as connection:
        runs, _ = start_runs(connection, [first, second], "p1", later, later + timedelta(seconds=30))
    assert len(runs) == 2
    finished = [FinishedRun(run, ScheduleStatus.SUCCEEDED, later, 5, "succeeded") for run in runs]
    with db_engine.begin() as connection:
        assert finish_runs(connection, finished, "p1") == {first.schedule_id, second.schedule_id}
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(task_runs)).scalar_one() == 2


def test_week_span_covers_whole_weeks_from_the_earliest_to_the_latest_time() -> None:
    span = week_span([NOW, NOW + timedelta(days=9), NOW + timedelta(hours=1)])
    assert span["time_from"] <= NOW < span["time_from"] + timedelta(days=7)
    assert span["time_to"] - timedelta(days=7) <= NOW + timedelta(days=9) < span["time_to"]
    assert (span["time_to"] - span["time_from"]) % timedelta(days=7) == timedelta(0)


def test_a_start_weeks_late_records_the_largest_lag_the_column_holds(db_engine: Engine) -> None:
    """start_lag_ms is an INT: a retry pending for 30 days must not fail its whole batch."""
    batch, decided = queued_rows(db_engine, 2)
    decided = replace(decided, scheduled_time=NOW - timedelta(days=400))  # left to the decided path
    much_later = NOW + timedelta(days=30)
    with db_engine.begin() as connection:
        lease = much_later + timedelta(seconds=30)
        started, _ = start_runs(connection, [batch, decided], "p1", much_later, lease)
    assert len(started) == 2
    with db_engine.connect() as connection:
        lags = set(connection.execute(select(task_schedule.c.start_lag_ms)).scalars())
    assert lags == {MAX_LAG_MS}
    assert start_lag_ms(NOW, NOW + timedelta(days=30)) == MAX_LAG_MS
    assert start_lag_ms(NOW, NOW - timedelta(seconds=1)) == 0


def burst_messages(engine: Engine) -> list[TaskMessage]:
    """1,500 Queued rows in NOW's week, with a partition of its own as in a live fleet."""
    with engine.begin() as connection:
        ensure_partitions(connection, NOW, timedelta(0))
    return queued_rows(engine, 1_500)


def nested_loop_plan(engine: Engine, query_name: str, values: dict[str, Any]) -> str:
    """The plan of a named query when the planner may join only by nested loops: what it
    picks when it expects a row or two, so the loop must be one that looks each row up."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL enable_hashjoin = off"))
        connection.execute(text("SET LOCAL enable_mergejoin = off"))
        explain = text("EXPLAIN " + named_query("postgresql", query_name))
        return "\n".join(connection.execute(explain, values).scalars())


def test_an_outcome_batch_reaches_each_row_by_its_key_when_statistics_lag_a_burst(
    pg_engine: Engine,
) -> None:
    """Statistics taken before a burst say no row is Running; the outcome write must still
    look each row up by its key, not compare every Running row with every outcome (a nested
    loop with a join filter: quadratic in the batch)."""
    messages = burst_messages(pg_engine)
    with pg_engine.begin() as connection:
        runs, _ = start_runs(connection, messages, "p1", NOW, LEASE)
    finished = [FinishedRun(run, ScheduleStatus.SUCCEEDED, NOW, 5, "succeeded") for run in runs]
    rows = _run_rows(finished, "postgresql")
    plan = nested_loop_plan(pg_engine, "finish_runs", {"rows": json.dumps(rows), "me": "p1"})
    assert "Join Filter" not in plan, plan


def test_a_start_batch_locks_each_row_by_its_key_when_statistics_lag_a_burst(
    pg_engine: Engine,
) -> None:
    """As for outcomes: the batch start looks each message's row up by its key, whatever the
    planner expects of the week's partition."""
    messages = burst_messages(pg_engine)
    values = {
        "messages": json.dumps([(m.schedule_id, m.attempt) for m in messages]),
        "now": NOW,
        "me": "p1",
        "lease_until": LEASE,
        **week_span([NOW]),
    }
    plan = nested_loop_plan(pg_engine, "start_waiting_rows", values)
    assert "Join Filter" not in plan, plan
