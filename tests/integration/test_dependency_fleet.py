"""Dependencies across a fleet on PostgreSQL and RabbitMQ: 30 chains A -> B -> C (B after A's
success, C after B's end), 2 distributors and 4 processors. Each chain runs in order, each
dependent once, carrying the id of the run it followed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule
from engine.core.execution import TaskContext
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from tests.integration.helpers import add_task_type, status_counts, wait_for

pytestmark = pytest.mark.integration

CHAINS = 30
# The fleet's clock: a fixed instant that moves on with the test's monotonic time, so that no
# figure depends on today's date.
ORIGIN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


STARTED = time.monotonic()


def ticking_clock() -> datetime:
    return ORIGIN + timedelta(seconds=time.monotonic() - STARTED)


def add(engine: Engine, name: str, **fields: object) -> int:
    spec = {"name": name, "task_type": "noop", "payload": {}} | fields
    return create_task(engine, TaskInput.model_validate(spec), ORIGIN - timedelta(hours=1)).id


def add_chains(engine: Engine) -> list[tuple[int, int, int]]:
    """Chain i's first task is due i seconds before the fleet's start; the others follow it."""
    chains = []
    for i in range(CHAINS):
        a = add(engine, f"extract {i}", kind="once", run_at=ORIGIN - timedelta(seconds=CHAINS - i))
        b = add(engine, f"load {i}", kind="after", after={"task_id": a, "on": "success"})
        c = add(engine, f"report {i}", kind="after", after={"task_id": b, "on": "finished"})
        chains.append((a, b, c))
    return chains


def test_chains_run_in_order_each_dependent_once_with_its_upstream_run(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    add_task_type(pg_engine, "noop", "noop")
    chains = add_chains(pg_engine)
    run_pass(pg_engine, ORIGIN - timedelta(hours=1))

    def noop(context: TaskContext) -> str:
        time.sleep(0.01)
        return "ok"

    stop = threading.Event()
    threads = []
    for i in range(2):
        config = DistributorConfig(f"d{i}", batch_size=20, poll_interval_s=0.01)
        broker = RabbitMQBroker(amqp_url, queue_base)
        threads.append(
            threading.Thread(target=Distributor(pg_engine, broker, config, ticking_clock).run, args=(stop,))
        )
    for i in range(4):
        config = ProcessorConfig(f"p{i}", concurrency=4, heartbeat_s=0.5)
        broker = RabbitMQBroker(amqp_url, queue_base)
        processor = Processor(pg_engine, broker, {"noop": noop}, config, ticking_clock)
        threads.append(threading.Thread(target=processor.run, args=(stop,)))
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: status_counts(pg_engine).get("Succeeded") == 3 * CHAINS, 120, "every chain")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    c = task_schedule.c
    with pg_engine.connect() as connection:
        rows = connection.execute(
            select(c.id, c.task_id, c.scheduled_time, c.started_at, c.finished_at, c.upstream_schedule_id)
        ).all()
    assert status_counts(pg_engine) == {"Succeeded": 3 * CHAINS}
    by_task = {row.task_id: row for row in rows}
    assert len(by_task) == len(rows) == 3 * CHAINS  # one row per task: each dependent once
    for a, b, c_ in chains:
        first, second, third = by_task[a], by_task[b], by_task[c_]
        assert first.upstream_schedule_id is None
        assert (second.upstream_schedule_id, second.scheduled_time) == (first.id, first.finished_at)
        assert (third.upstream_schedule_id, third.scheduled_time) == (second.id, second.finished_at)
        assert first.finished_at <= second.started_at and second.finished_at <= third.started_at
