"""A row whose every message is lost is still run: the reconciliation in the distributor's
loop drives it on (SQLite and the in-process broker)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.tables import task_schedule
from engine.processes.distributor import Distributor, DistributorConfig
from tests.unit.test_flow_memory import Running, add_rows, statuses, wait_for


def test_a_running_row_whose_processor_died_and_whose_message_was_lost_is_run_again(engine: Engine) -> None:
    now = datetime.now(UTC)
    [orphan, failed, queued] = add_rows(engine, 3, at=now - timedelta(minutes=30))
    with engine.begin() as connection:
        # Killed while running, its parked copy lost with the broker's delay queue.
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == orphan)
            .values(
                status="Running", attempt=1, claimed_by="killed", lease_expires_at=now - timedelta(seconds=5)
            )
        )
        # A retry whose message never came back.
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == failed)
            .values(
                status="Failed",
                attempt=1,
                finished_at=now - timedelta(minutes=10),
                next_attempt_at=now - timedelta(minutes=9),
            )
        )
        # Handed over to a broker that lost it.
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.id == queued)
            .values(status="Queued", queued_at=now - timedelta(minutes=20))
        )
    broker = MemoryBroker()  # empty: every message is gone
    keys: list[str] = []
    processor = Running(engine, broker, {"job": lambda context: keys.append(context.idempotency_key) or "ok"})
    stop = threading.Event()
    config = DistributorConfig("d1", reconcile_interval_s=0.2, reconcile_queued_after_s=60)
    thread = threading.Thread(target=Distributor(engine, broker, config).run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: all(statuses(engine)[row][0] == "Succeeded" for row in (orphan, failed, queued)), 10)
    finally:
        stop.set()
        thread.join(10)
        processor.close()
    assert sorted(keys) == sorted(str(row) for row in (orphan, failed, queued))  # once each
    assert statuses(engine)[orphan] == ("Succeeded", 1)  # the unfinished attempt, not a new one
    assert statuses(engine)[failed] == ("Succeeded", 2)
