"""Ordering keys across a fleet on PostgreSQL and RabbitMQ: 500 tasks on 5 keys, 2
distributors and 4 processors. Each key's runs start strictly in scheduled order, one at a
time (each starts after the previous one ended), while the keys run alongside each other."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule, tasks
from engine.core.execution import TaskContext
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_task_type, status_counts, wait_for

pytestmark = pytest.mark.integration

TASKS, KEYS = 500, 5


def add_keyed_tasks(engine: Engine, first_due: datetime) -> None:
    """Task i is due at first_due + i seconds with key i % KEYS; inserted in reverse, so that ids
    run against the scheduled order."""
    with engine.begin() as connection:
        connection.execute(
            insert(tasks),
            [
                {
                    "name": f"keyed {i}",
                    "task_type": "noop",
                    "kind": "once",
                    "run_at": first_due + timedelta(seconds=i),
                    "payload": {},
                    "active": True,
                    "ordering_key": f"key-{i % KEYS}",
                    "created_at": first_due - timedelta(hours=1),
                    "updated_at": first_due - timedelta(hours=1),
                }
                for i in reversed(range(TASKS))
            ],
        )


def test_each_keys_runs_start_in_scheduled_order_one_at_a_time(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    add_task_type(pg_engine, "noop", "noop")
    # Every row is due when the fleet starts (the keys alone hold them back), late by minutes
    # at most, so that the start lags fit their column.
    first_due = datetime.now(UTC) - timedelta(seconds=TASKS)
    add_keyed_tasks(pg_engine, first_due)
    run_pass(pg_engine, first_due - timedelta(hours=1))
    late = first_due + timedelta(seconds=TASKS)

    def noop(context: TaskContext) -> str:
        return "ok"

    stop = threading.Event()
    threads = []
    for i in range(2):
        config = DistributorConfig(f"d{i}", batch_size=50, poll_interval_s=0.01)
        distributor = Distributor(pg_engine, RabbitMQBroker(amqp_url, queue_base), config, lambda: late)
        threads.append(threading.Thread(target=distributor.run, args=(stop,)))
    for i in range(4):
        config = ProcessorConfig(f"p{i}", concurrency=4, heartbeat_s=0.5)
        processor = Processor(pg_engine, RabbitMQBroker(amqp_url, queue_base), {"noop": noop}, config)
        threads.append(threading.Thread(target=processor.run, args=(stop,)))
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: status_counts(pg_engine).get("Succeeded") == TASKS, 120, f"{TASKS} successes")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    c = task_schedule.c
    with pg_engine.connect() as connection:
        rows = connection.execute(
            select(tasks.c.ordering_key, c.scheduled_time, c.started_at, c.finished_at)
            .join(tasks, tasks.c.id == c.task_id)
            .order_by(c.scheduled_time)
        ).all()
    by_key = defaultdict(list)
    for row in rows:
        by_key[row.ordering_key].append(row)
    assert sorted(by_key) == [f"key-{k}" for k in range(KEYS)]
    for runs in by_key.values():
        assert len(runs) == TASKS // KEYS
        for earlier, later in zip(runs, runs[1:], strict=False):
            assert earlier.finished_at <= later.started_at, (earlier, later)
