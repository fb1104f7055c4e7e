"""Distributor and Processor over the in-process broker and SQLite: the semantics without
servers (the same flows run on PostgreSQL and RabbitMQ in tests/integration)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.tables import task_runs, task_schedule, tasks
from engine.core.execution import TaskContext, TaskFailed
from engine.ports import Handler, OutgoingMessage
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.services.dead_letters import replay_dead_letters

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def add_rows(engine: Engine, count: int, at: datetime = NOW, task_type: str = "job") -> list[int]:
    with engine.begin() as connection:
        task_id = connection.execute(
            insert(tasks)
            .values(
                name="t",
                task_type=task_type,
                kind="immediate",
                payload={},
                active=True,
                created_at=at,
                updated_at=at,
            )
            .returning(tasks.c.id)
        ).scalar_one()
        return [
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task_id,
                    scheduled_time=at - timedelta(microseconds=i),
                    status="Scheduled",
                    attempt=0,
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
            for i in range(count)
        ]


def statuses(engine: Engine) -> dict[int, tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(select(task_schedule.c.id, task_schedule.c.status, task_schedule.c.attempt))
        return {row.id: (row.status, row.attempt) for row in rows}


class Running:
    """A processor on a thread, stopped at the end of the test."""

    def __init__(
        self, engine: Engine, broker: MemoryBroker, handlers: dict[str, Handler], **config: Any
    ) -> None:
        self.stop = threading.Event()
        self.processor = Processor(
            engine, broker, handlers, ProcessorConfig("p1", backoff_base_ms=20, heartbeat_s=0.2, **config)
        )
        self.thread = threading.Thread(target=self.processor.run, args=(self.stop,))
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def distribute(engine: Engine, broker: MemoryBroker, now: datetime = NOW, **config: Any) -> int:
    distributor = Distributor(engine, broker, DistributorConfig("d1", **config), clock=lambda: now)
    total = 0
    while result := distributor.run_once().claimed:
        total += result
    return total


def test_due_rows_are_published_once_and_future_rows_wait(engine: Engine) -> None:
    broker = MemoryBroker()
    due = add_rows(engine, 5)
    later = add_rows(engine, 2, at=NOW + timedelta(minutes=1))
    assert distribute(engine, broker, batch_size=2) == 5
    assert distribute(engine, broker) == 0
    assert broker.counts()["ready"] == 5
    rows = statuses(engine)
    assert all(rows[i] == ("Queued", 0) for i in due)
    assert all(rows[i] == ("Scheduled", 0) for i in later)
    with engine.connect() as connection:  # confirmed: handed over, no lease left to sweep
        leases = connection.execute(
            select(task_schedule.c.lease_expires_at).where(task_schedule.c.id.in_(due))
        )
        assert {row[0] for row in leases} == {None}


def test_every_row_succeeds_with_one_run_each(engine: Engine) -> None:
    broker = MemoryBroker()
    ids = add_rows(engine, 50)
    seen: list[str] = []
    lock = threading.Lock()

    def job(context: TaskContext) -> str:
        with lock:
            seen.append(context.idempotency_key)
        return "ok"

    running = Running(engine, broker, {"job": job}, concurrency=4)
    try:
        distribute(engine, broker)
        wait_for(lambda: all(s == ("Succeeded", 1) for s in statuses(engine).values()))
    finally:
        running.close()
    assert sorted(seen) == sorted(str(i) for i in ids)
    with engine.connect() as connection:
        runs = connection.execute(
            select(task_runs.c.schedule_id, task_runs.c.outcome, task_runs.c.output_excerpt)
        ).all()
        lags = connection.execute(select(task_schedule.c.start_lag_ms)).scalars().all()
        beats = connection.execute(select(task_schedule.c.claimed_by).distinct()).scalars().all()
    assert (
        len(runs) == 50
        and {r.outcome for r in runs} == {"succeeded"}
        and {r.output_excerpt for r in runs} == {"ok"}
    )
    assert all(lag is not None and lag >= 0 for lag in lags)
    assert beats == ["p1"]
    assert broker.counts() == {"ready": 0, "delayed": 0, "unsettled": 0, "dead": 0}


def test_failing_task_retries_then_dies_and_replay_runs_it_again(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)
    calls: list[int] = []
    healthy = threading.Event()

    def job(context: TaskContext) -> str:
        calls.append(context.attempt)
        if not healthy.is_set():
            raise TaskFailed("endpoint down")
        return "fine"

    running = Running(engine, broker, {"job": job})
    try:
        distribute(engine, broker)
        wait_for(lambda: statuses(engine)[row_id] == ("Dead", 3) and broker.counts()["dead"] == 1)
        assert calls == [1, 2, 3]
        letters: list[str] = []
        broker.visit_dead_letters(lambda letter: letters.append(letter.reason) or False, 10)
        assert letters == ["failed: endpoint down"]
        with engine.connect() as connection:
            runs = connection.execute(
                select(task_runs.c.attempt, task_runs.c.outcome).order_by(task_runs.c.id)
            ).all()
        assert [tuple(r) for r in runs] == [(1, "failed"), (2, "failed"), (3, "failed")]

        healthy.set()

        report = replay_dead_letters(engine, broker, set(), 10)
        assert (report.replayed, report.already_replayed) == (1, 0)
        assert broker.counts()["dead"] == 0
        distribute(engine, broker)
        wait_for(lambda: statuses(engine)[row_id] == ("Succeeded", 1))
    finally:
        running.close()


def test_replay_by_id_resets_a_dead_row_whose_dead_letter_is_gone(engine: Engine) -> None:
    # The in-process broker of a stopped `headway up` forgot its dead letters; a purged
    # dead-letter queue does the same. The row still says the task died.
    broker = MemoryBroker()
    dead, done = add_rows(engine, 2)
    with engine.begin() as connection:
        connection.execute(
            update(task_schedule).where(task_schedule.c.id == dead).values(status="Dead", attempt=3)
        )
        connection.execute(
            update(task_schedule).where(task_schedule.c.id == done).values(status="Succeeded", attempt=1)
        )

    report = replay_dead_letters(engine, broker, {dead, done, 999}, 10)

    assert report.replayed == 1 and report.not_dead == [done, 999]
    assert statuses(engine)[dead] == ("Scheduled", 0)
    assert statuses(engine)[done] == ("Succeeded", 1)


def test_non_retryable_failure_ends_failed_after_one_attempt(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)

    def job(context: TaskContext) -> str:
        raise TaskFailed(
            "blocked_destination: x resolves to 127.0.0.1", "blocked_destination", retryable=False
        )

    running = Running(engine, broker, {"job": job})
    try:
        distribute(engine, broker)
        wait_for(lambda: statuses(engine)[row_id] == ("Failed", 1))
    finally:
        running.close()
    with engine.connect() as connection:
        row = connection.execute(select(task_schedule).where(task_schedule.c.id == row_id)).one()
        run = connection.execute(select(task_runs)).one()
    assert row.next_attempt_at is None and row.last_error.startswith("blocked_destination")
    assert run.outcome == "blocked_destination"
    assert broker.counts()["dead"] == 0


def test_malformed_message_goes_straight_to_the_dead_letter_queue(engine: Engine) -> None:
    broker = MemoryBroker()
    running = Running(engine, broker, {})
    try:
        broker.publish([OutgoingMessage(b'{"hello": "world"}', "x")])
        wait_for(lambda: broker.counts()["dead"] == 1)
    finally:
        running.close()
    reasons: list[str] = []
    broker.visit_dead_letters(lambda letter: reasons.append(letter.reason) or False, 10)
    assert reasons[0].startswith("malformed: unknown message version")


def test_duplicate_message_is_not_run_twice(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)
    distribute(engine, broker)
    # A distributor crash between confirm and bookkeeping publishes the row again.
    with engine.begin() as connection:
        connection.execute(update(task_schedule).values(status="Scheduled", lease_expires_at=None))
    distribute(engine, broker)
    assert broker.counts()["ready"] == 2
    calls: list[int] = []
    # The copy that finds the row running waits out the lease, then finds it done.
    running = Running(engine, broker, {"job": lambda c: calls.append(c.schedule_id)}, lease_s=1)
    try:
        wait_for(lambda: statuses(engine)[row_id] == ("Succeeded", 1) and broker.counts()["ready"] == 0)
        wait_for(lambda: broker.counts()["delayed"] == 0 and broker.counts()["unsettled"] == 0)
    finally:
        running.close()
    assert calls == [row_id]


def test_stale_running_row_is_taken_over_by_a_redelivered_message(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)
    distribute(engine, broker)
    # A processor that died mid-task: the row is Running under its expired lease.
    with engine.begin() as connection:
        connection.execute(
            update(task_schedule).values(
                status="Running", attempt=1, claimed_by="dead", lease_expires_at=NOW - timedelta(seconds=1)
            )
        )
    running = Running(engine, broker, {"job": lambda c: "again"})
    try:
        wait_for(lambda: statuses(engine)[row_id] == ("Succeeded", 1))
    finally:
        running.close()


def test_stop_lets_the_running_task_finish(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)
    started = threading.Event()

    def slow(context: TaskContext) -> str:
        started.set()
        time.sleep(0.5)
        return "done"

    running = Running(engine, broker, {"job": slow})
    distribute(engine, broker)
    assert started.wait(5)
    running.close()
    assert statuses(engine)[row_id] == ("Succeeded", 1)


def test_stop_gives_back_a_task_that_outlives_the_grace(engine: Engine) -> None:
    broker = MemoryBroker()
    [row_id] = add_rows(engine, 1)
    started = threading.Event()
    release = threading.Event()

    def stuck(context: TaskContext) -> str:
        started.set()
        release.wait(10)
        return "late"

    running = Running(engine, broker, {"job": stuck}, shutdown_grace_s=0.2)
    distribute(engine, broker)
    assert started.wait(5)
    running.close()
    release.set()
    assert statuses(engine)[row_id] == ("Queued", 0)
    assert broker.counts()["ready"] == 1


def test_embedded_recovery_requeues_in_flight_rows(engine: Engine) -> None:
    from engine.adapters.distribution_store import recover_in_flight

    a, b, c, d = add_rows(engine, 4)
    with engine.begin() as connection:
        connection.execute(update(task_schedule).where(task_schedule.c.id == a).values(status="Queued"))
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == b)
            .values(status="Running", attempt=2, claimed_by="x")
        )
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == c)
            .values(status="Failed", attempt=1, next_attempt_at=NOW)
        )
        connection.execute(
            update(task_schedule).where(task_schedule.c.id == d).values(status="Succeeded", attempt=1)
        )
        assert recover_in_flight(connection, NOW) == 3
    assert statuses(engine) == {
        a: ("Scheduled", 0),
        b: ("Scheduled", 1),
        c: ("Scheduled", 1),
        d: ("Succeeded", 1),
    }
