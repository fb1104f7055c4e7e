"""The Distributor's claims on PostgreSQL and SQLite: failed publishes, sweeps, outages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.distribution_store import release_unpublished, sweep_expired_claims
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.tables import task_schedule
from engine.ports import BrokerUnavailable, OutgoingMessage
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_tasks, status_counts

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
