"""The reconciliation on both dialects: rows that stopped moving are driven on, once, by one
of several distributors; rows that move (or are final) are left alone; /metrics counts them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, select, update

from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.reconcile_store import redriven_totals
from engine.adapters.tables import task_schedule
from engine.core.messages import decode_message
from engine.ports import Delivery
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_tasks

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
AGO = NOW - timedelta(hours=1)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rows_in(engine: Engine, states: list[dict[str, object]]) -> list[int]:
    add_tasks(engine, len(states), AGO - timedelta(minutes=5), {})
    run_pass(engine, AGO - timedelta(minutes=5))
    with engine.begin() as connection:
        ids = list(connection.execute(select(task_schedule.c.id).order_by(task_schedule.c.id)).scalars())
        for row_id, values in zip(ids, states, strict=True):
            connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))
    return ids


def row_states(engine: Engine) -> dict[int, tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(select(task_schedule.c.id, task_schedule.c.status, task_schedule.c.attempt))
        return {row.id: (row.status, row.attempt) for row in rows}


def published(broker: MemoryBroker) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    stop_after = broker.counts()["ready"]

    def take(delivery: Delivery) -> None:
        message = decode_message(delivery.body)
        seen.append((message.schedule_id, message.attempt))
        delivery.ack()

    stop = threading.Event()
    while len(seen) < stop_after:
        stop.clear()
        timer = threading.Timer(0.2, stop.set)
        timer.start()
        broker.consume(take, 100, stop)
        timer.cancel()
    return sorted(seen)


STUCK = {
    "running_expired": {
        "status": "Running",
        "attempt": 2,
        "claimed_by": "dead-processor",
        "lease_expires_at": NOW - timedelta(seconds=30),
        "started_at": NOW - timedelta(minutes=2),
    },
    "queued_unstarted": {"status": "Queued", "attempt": 0, "queued_at": NOW - timedelta(minutes=11)},
    "retry_overdue": {
        "status": "Failed",
        "attempt": 1,
        "finished_at": NOW - timedelta(minutes=20),
        "next_attempt_at": NOW - timedelta(minutes=19),
    },
}
MOVING = {
    "running_live": {
        "status": "Running",
        "attempt": 1,
        "claimed_by": "live-processor",
        "lease_expires_at": NOW + timedelta(seconds=20),
    },
    "queued_recent": {"status": "Queued", "attempt": 0, "queued_at": NOW - timedelta(minutes=1)},
    "queued_claimed": {
        "status": "Queued",
        "attempt": 0,
        "queued_at": NOW - timedelta(minutes=30),
        "claimed_by": "d9",
        "lease_expires_at": NOW + timedelta(seconds=5),
    },
    "retry_pending": {
        "status": "Failed",
        "attempt": 1,
        "finished_at": NOW - timedelta(minutes=1),
        "next_attempt_at": NOW + timedelta(minutes=1),
    },
    "succeeded": {"status": "Succeeded", "attempt": 1, "finished_at": AGO},
    "dead": {"status": "Dead", "attempt": 3, "finished_at": AGO},
    "failed_for_good": {"status": "Failed", "attempt": 1, "finished_at": AGO},
}


def distributor(engine: Engine, broker: MemoryBroker, name: str, clock: FakeMonotonic) -> Distributor:
    config = DistributorConfig(name, reconcile_interval_s=10, reconcile_queued_after_s=600)
    return Distributor(engine, broker, config, clock=lambda: NOW, monotonic=clock)


def test_rows_that_stopped_moving_are_published_again_and_the_others_left_alone(db_engine: Engine) -> None:
    names = [*STUCK, *MOVING]
    ids = dict(zip(names, rows_in(db_engine, [*STUCK.values(), *MOVING.values()]), strict=True))
    before = row_states(db_engine)
    broker, clock = MemoryBroker(), FakeMonotonic()
    first, second = (distributor(db_engine, broker, name, clock) for name in ("d1", "d2"))
    assert first.run_once().redriven == 0  # seen once: not yet
    assert second.run_once().redriven == 0
    clock.now = 9.9
    assert first.reconcile(NOW) == 0
    clock.now = 10.0
    # Both confirm the same rows at once; the conditional update lets one move each.
    assert first.run_once().redriven + second.run_once().redriven == len(STUCK)
    after = row_states(db_engine)
    assert {name: after[ids[name]] for name in MOVING} == {name: before[ids[name]] for name in MOVING}
    # Published again with the attempt they were at (the Running one re-runs attempt 2),
    # and handed over as Queued like any published row.
    assert published(broker) == sorted(
        [(ids["running_expired"], 2), (ids["queued_unstarted"], 1), (ids["retry_overdue"], 2)]
    )
    assert {name: after[ids[name]][0] for name in STUCK} == dict.fromkeys(STUCK, "Queued")
    with db_engine.connect() as connection:
        assert redriven_totals(connection) == dict.fromkeys(STUCK, 1)


def test_a_lease_renewed_between_two_looks_spares_the_row(db_engine: Engine) -> None:
    [row] = rows_in(db_engine, [STUCK["running_expired"]])
    broker, clock = MemoryBroker(), FakeMonotonic()
    process = distributor(db_engine, broker, "d1", clock)
    assert process.reconcile(NOW) == 0
    with db_engine.begin() as connection:  # the processor was alive: its heartbeat came back
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == row)
            .values(lease_expires_at=NOW - timedelta(seconds=1))
        )
    clock.now = 10.0
    assert process.reconcile(NOW) == 0
    clock.now = 20.0
    assert process.reconcile(NOW) == 1


def test_each_kind_of_stall_is_found_through_a_partial_index_of_its_own(db_engine: Engine) -> None:
    dialect = db_engine.dialect.name
    indexes = {index["name"]: index for index in inspect(db_engine).get_indexes("task_schedule")}
    expected = {
        "task_schedule_handed_over": (["queued_at"], "'Queued'"),
        "task_schedule_running_lease": (["lease_expires_at"], "'Running'"),
        "task_schedule_retry_due": (["next_attempt_at"], "'Failed'"),
    }
    for name, (columns, status) in expected.items():
        assert indexes[name]["column_names"] == columns
        assert status in str(indexes[name]["dialect_options"][f"{dialect}_where"])


def test_the_stuck_rows_query_reads_the_deadline_indexes(pg_engine: Engine) -> None:
    from sqlalchemy import text

    from engine.adapters.sql_queries import named_query
    from tests.integration.helpers import index_names

    with pg_engine.begin() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            connection.execute(
                text("EXPLAIN " + named_query("postgresql", "find_stuck_rows")),
                {"now": NOW, "queued_before": NOW, "limit": 100},
            ).scalars()
        )
        for name in ("task_schedule_handed_over", "task_schedule_running_lease", "task_schedule_retry_due"):
            assert any(index in plan for index in index_names(connection, name)), name
