"""The Distributor's claims on PostgreSQL and SQLite: failed publishes, sweeps, outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql

from engine.adapters.database import status_is
from engine.adapters.distribution_store import release_unpublished, sweep_expired_claims
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.sql_stores import SqlDistributionStore
from engine.adapters.tables import task_schedule
from engine.core.messages import decode_message
from engine.ports import BrokerUnavailable, Delivery, OutgoingMessage
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_tasks, status_counts, wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class FlakyBroker(MemoryBroker):
    """Confirms only the messages `accept` allows; raises when `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refuse: set[str] = set()

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        if self.down:
            raise BrokerUnavailable("down for the test")
        accepted = [m for m in messages if m.message_id not in self.refuse]
        super().publish(accepted)
        return [m.message_id not in self.refuse for m in messages]


def rows(engine: Engine) -> dict[int, tuple[str, str | None, datetime | None]]:
    with engine.connect() as connection:
        result = connection.execute(
            select(
                task_schedule.c.id,
                task_schedule.c.status,
                task_schedule.c.claimed_by,
                task_schedule.c.lease_expires_at,
            )
        )
        return {r.id: (r.status, r.claimed_by, r.lease_expires_at) for r in result}


def test_nacked_rows_return_to_scheduled_and_go_out_next_loop(db_engine: Engine) -> None:
    add_tasks(db_engine, 3, NOW, {})
    run_pass(db_engine, NOW)
    broker = FlakyBroker()
    first_id = min(rows(db_engine))
    broker.refuse = {str(first_id)}
    distributor = Distributor(db_engine, broker, DistributorConfig("d1"), clock=lambda: NOW)
    result = distributor.run_once()
    assert (result.claimed, result.published, result.released) == (3, 2, 1)
    assert rows(db_engine)[first_id] == ("Scheduled", None, None)
    broker.refuse = set()
    assert distributor.run_once().published == 1
    assert status_counts(db_engine) == {"Queued": 3}
    assert broker.counts()["ready"] == 3


def test_broker_down_releases_the_batch_and_raises(db_engine: Engine) -> None:
    add_tasks(db_engine, 2, NOW, {})
    run_pass(db_engine, NOW)
    broker = FlakyBroker()
    broker.down = True
    distributor = Distributor(db_engine, broker, DistributorConfig("d1"), clock=lambda: NOW)
    with pytest.raises(BrokerUnavailable):
        distributor.run_once()
    assert status_counts(db_engine) == {"Scheduled": 2}


def test_release_leaves_rows_another_distributor_claimed_meanwhile(db_engine: Engine) -> None:
    add_tasks(db_engine, 1, NOW, {})
    run_pass(db_engine, NOW)
    [row_id] = rows(db_engine)
    with db_engine.begin() as connection:
        connection.execute(
            update(task_schedule).values(status="Queued", claimed_by="d2", lease_expires_at=NOW)
        )
        assert release_unpublished(connection, [row_id], "d1") == 0
    assert rows(db_engine)[row_id][:2] == ("Queued", "d2")


def test_sweep_returns_only_expired_unconfirmed_claims(db_engine: Engine) -> None:
    add_tasks(db_engine, 4, NOW, {})
    run_pass(db_engine, NOW)
    a, b, c, d = sorted(rows(db_engine))
    with db_engine.begin() as connection:
        expired, live = NOW - timedelta(seconds=1), NOW + timedelta(seconds=30)
        for row_id, values in (
            (a, {"status": "Queued", "claimed_by": "dead", "lease_expires_at": expired}),
            (b, {"status": "Queued", "claimed_by": "alive", "lease_expires_at": live}),
            (c, {"status": "Queued", "claimed_by": "confirmed", "lease_expires_at": None}),
            (d, {"status": "Running", "claimed_by": "p", "lease_expires_at": expired}),
        ):
            connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))
        assert sweep_expired_claims(connection, NOW) == 1
    assert [rows(db_engine)[i][0] for i in (a, b, c, d)] == ["Scheduled", "Queued", "Queued", "Running"]


def test_run_sleeps_until_the_next_row_is_due(db_engine: Engine) -> None:
    add_tasks(db_engine, 1, NOW, {}, kind="once", run_at=NOW + timedelta(milliseconds=200))
    run_pass(db_engine, NOW)
    distributor = Distributor(
        db_engine, MemoryBroker(), DistributorConfig("d1", poll_interval_s=1.0), clock=lambda: NOW
    )
    result = distributor.run_once()
    assert result.claimed == 0 and result.next_due == NOW + timedelta(milliseconds=200)
    assert distributor._sleep_s(result.next_due) == pytest.approx(0.2)


def test_postgresql_insert_wakes_a_waiting_distributor(pg_engine: Engine) -> None:
    import threading
    import time

    from engine.adapters.wakeup import PostgresWakeup

    wakeup = PostgresWakeup(pg_engine)
    wakeup.wait(0.01)  # connects and listens
    returned = threading.Event()
    began = time.monotonic()
    thread = threading.Thread(target=lambda: (wakeup.wait(10), returned.set()))
    thread.start()
    add_tasks(pg_engine, 1, NOW, {})
    run_pass(pg_engine, NOW)
    assert returned.wait(5), "the insert did not wake the waiter"
    assert time.monotonic() - began < 5
    thread.join()
    wakeup.close()


@contextmanager
def distributing(engine: Engine, broker: MemoryBroker, **config: Any) -> Iterator[None]:
    """`Distributor.run` on a thread, its clock going from NOW at the real pace; stopped (and
    `run` returned) on leaving."""
    began = time.monotonic()
    distributor = Distributor(
        engine,
        broker,
        DistributorConfig("d1", **config),
        clock=lambda: NOW + timedelta(seconds=time.monotonic() - began),
    )
    stop = threading.Event()
    thread = threading.Thread(target=distributor.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def published_ids(broker: MemoryBroker) -> list[int]:
    """The schedule ids of the messages ready in `broker`, consuming them."""
    ids: list[int] = []
    stop = threading.Event()
    ready = broker.counts()["ready"]

    def take(delivery: Delivery) -> None:
        ids.append(decode_message(delivery.body).schedule_id)
        delivery.ack()
        if len(ids) == ready:
            stop.set()

    if ready:
        broker.consume(take, ready, stop)
    return sorted(ids)


def test_run_hands_a_confirmed_batch_over_after_half_its_lease(db_engine: Engine) -> None:
    add_tasks(db_engine, 3, NOW, {})
    run_pass(db_engine, NOW)
    broker = MemoryBroker()
    # A 3 s lease: the hand-over is due 1.5 s after the claim, with 1.5 s to spare before the
    # lease ends, so a loaded machine does not turn the wait into a race.
    with distributing(db_engine, broker, lease_s=3.0, poll_interval_s=0.01):
        wait_for(lambda: broker.counts()["ready"] == 3, 5, "the batch published", step_s=0.005)
        published = time.monotonic()
        assert all(status == "Queued" and lease is not None for status, _, lease in rows(db_engine).values())
        handed_over = {"Queued": 3}
        wait_for(
            lambda: (
                status_counts(db_engine) == handed_over
                and all(lease is None for *_, lease in rows(db_engine).values())
            ),
            2.9,
            "the hand-over before the lease ends",
            step_s=0.01,
        )
        assert time.monotonic() - published > 1.0  # not at once: after half the lease
        time.sleep(max(0.0, published + 3.5 - time.monotonic()))  # past the lease: nothing swept
        assert status_counts(db_engine) == handed_over
    assert published_ids(broker) == sorted(rows(db_engine))


def test_stopping_run_hands_over_the_batches_still_waiting(db_engine: Engine) -> None:
    add_tasks(db_engine, 3, NOW, {})
    run_pass(db_engine, NOW)
    first, *others = sorted(rows(db_engine))
    broker = MemoryBroker()
    processor_lease = NOW + timedelta(seconds=30)
    with distributing(db_engine, broker, lease_s=60.0, poll_interval_s=0.01):
        wait_for(lambda: broker.counts()["ready"] == 3, 5, "the batch published", step_s=0.005)
        assert all(lease is not None for *_, lease in rows(db_engine).values())
        with db_engine.begin() as connection:  # a processor started one row meanwhile
            connection.execute(
                update(task_schedule)
                .where(task_schedule.c.id == first)
                .values(status="Running", attempt=1, claimed_by="p1", lease_expires_at=processor_lease)
            )
    after = rows(db_engine)
    assert [after[i] for i in others] == [("Queued", "d1", None)] * 2
    assert after[first] == ("Running", "p1", processor_lease)


class SlowBroker(MemoryBroker):
    """Confirms take 0.6 s: more than half of a 1 s lease."""

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        if messages:
            time.sleep(0.6)
        return super().publish(messages)


def test_a_publish_slower_than_half_the_lease_is_handed_over_at_once(db_engine: Engine) -> None:
    add_tasks(db_engine, 3, NOW, {})
    run_pass(db_engine, NOW)
    broker = SlowBroker()
    with distributing(db_engine, broker, lease_s=1.0, poll_interval_s=0.01):
        wait_for(lambda: broker.counts()["ready"] == 3, 5, "the batch published", step_s=0.005)
        time.sleep(1.5)  # past the lease: a batch still waiting for its hand-over would be swept
        assert status_counts(db_engine) == {"Queued": 3}
    assert published_ids(broker) == sorted(rows(db_engine))  # each row sent once


def test_the_loops_reads_leave_the_drivers_prepared_statements_in_place(pg_engine: Engine) -> None:
    # The driver forgets what it prepared on every rollback: a loop whose last read rolled
    # back had PostgreSQL plan its claim, sweep and reads again on every pass.
    store = SqlDistributionStore(pg_engine)
    for _ in range(8):
        store.claim(NOW, 100, "d1", NOW + timedelta(seconds=30), [])
        store.next_due_time(NOW)
    with pg_engine.connect() as connection:  # the pool's one connection, the loop's
        prepared = (
            connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
            .scalars()
            .all()
        )
    assert any("min(task_schedule.scheduled_time)" in statement for statement in prepared), prepared
    assert any("FOR UPDATE SKIP LOCKED" in statement for statement in prepared), prepared


def test_the_next_due_read_names_its_status_in_the_statement() -> None:
    # A status bound as a parameter kept PostgreSQL from using the status's partial index in
    # a generic plan.
    read = select(func.min(task_schedule.c.scheduled_time)).where(
        status_is(task_schedule.c.status, "Scheduled")
    )
    compiled = read.compile(dialect=postgresql.dialect())
    assert "status = 'Scheduled'" in str(compiled)
    assert compiled.params == {}
    with pytest.raises(ValueError, match="status: 'Bogus'"):
        status_is(task_schedule.c.status, "Bogus")
