"""Overlap `skip` across a fleet on PostgreSQL and RabbitMQ: 2 distributors and 4 processors
share one task firing every minute whose runs last 3 minutes. Never two runs at once; the fire times
due meanwhile are recorded Skipped. Time is a shared clock the test moves a minute at a
time, and each step waits until the fleet has done what that minute asks, so the outcome
does not depend on thread timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule
from engine.core.execution import TaskContext
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_cron_task, add_task_type, wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RUN = timedelta(minutes=3)
MINUTES = 12


class SteppedClock:
    """A clock the test moves; handlers wait on it for their run to last RUN."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._moved = threading.Condition()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        with self._moved:
            self.now += delta
            self._moved.notify_all()

    def sleep_until(self, instant: datetime, stop: threading.Event) -> None:
        with self._moved:
            while self.now < instant and not stop.is_set():
                self._moved.wait(0.05)


@contextmanager
def processors(engine: Engine, amqp_url: str, queue: str, clock: SteppedClock, count: int) -> Iterator[None]:
    stop = threading.Event()

    def three_minutes(context: TaskContext) -> str:
        # RUN from the start the row records: the handler itself may be called a step later.
        with engine.connect() as connection:
            started_at = connection.execute(
                select(task_schedule.c.started_at).where(task_schedule.c.id == context.schedule_id)
            ).scalar_one()
        clock.sleep_until(started_at + RUN, stop)
        return "done"

    threads = []
    for i in range(count):
        config = ProcessorConfig(f"p{i}", concurrency=2, lease_s=3_600, heartbeat_s=0.2)
        broker = RabbitMQBroker(amqp_url, queue)
        processor = Processor(engine, broker, {"three_minutes": three_minutes}, config, clock)
        threads.append(threading.Thread(target=processor.run, args=(stop,)))
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)


def count(engine: Engine, *conditions: object) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(task_schedule).where(*conditions)  # type: ignore[arg-type]
        return int(connection.execute(query).scalar_one())


def settled(engine: Engine, now: datetime) -> bool:
    """Every claimed row has started, and every run that has lasted RUN is recorded."""
    c = task_schedule.c
    return count(engine, c.status == "Queued") == 0 and (
        count(engine, c.status == "Running", c.started_at <= now - RUN) == 0
    )


def claim_at_once(distributors: list[Distributor]) -> None:
    """The distributors claim at the same moment, racing for the same due rows."""
    barrier = threading.Barrier(len(distributors))

    def claim(distributor: Distributor) -> None:
        barrier.wait()
        distributor.run_once()

    threads = [threading.Thread(target=claim, args=(d,)) for d in distributors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def config(i: int) -> DistributorConfig:
    # No claim lapses and no reconciliation looks at rows while the clock jumps minutes.
    return DistributorConfig(f"d{i}", lease_s=3_600, reconcile_interval_s=3_600)


def test_overlap_skip_never_runs_two_at_once_across_distributors_and_processors(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    add_task_type(pg_engine, "slow", "three_minutes", timeout_ms=3_600_000)
    clock = SteppedClock(T0 - timedelta(seconds=1))
    skip = add_cron_task(pg_engine, clock(), "* * * * *", task_type="slow", overlap_policy="skip")
    plain = add_cron_task(pg_engine, clock(), "* * * * *", task_type="slow", name="plain")
    run_pass(pg_engine, clock(), forecast_hours=0.5)
    distributors = [
        Distributor(pg_engine, RabbitMQBroker(amqp_url, queue_base), config(i), clock) for i in range(2)
    ]
    with processors(pg_engine, amqp_url, queue_base, clock, 4):
        for minute in range(MINUTES + 1):
            clock.advance(T0 + timedelta(minutes=minute) - clock())
            wait_for(lambda: settled(pg_engine, clock()), 30, f"the fleet to settle at minute {minute}")
            claim_at_once(distributors)
        clock.advance(RUN)  # the last runs end
        wait_for(lambda: settled(pg_engine, clock()), 30, "the last runs to end")

    c = task_schedule.c
    with pg_engine.connect() as connection:
        rows = connection.execute(
            select(c.task_id, c.scheduled_time, c.status, c.skip_reason, c.started_at, c.finished_at)
            .where(c.scheduled_time <= T0 + timedelta(minutes=MINUTES))
            .order_by(c.scheduled_time)
        ).all()
    runs = [(row.started_at, row.finished_at) for row in rows if row.task_id == skip.id and row.started_at]
    assert all(end <= later_start for (_, end), (later_start, _) in zip(runs, runs[1:], strict=False))
    outcome = {
        int((row.scheduled_time - T0) / timedelta(minutes=1)): (row.status, row.skip_reason)
        for row in rows
        if row.task_id == skip.id
    }
    ran = {minute for minute in range(0, MINUTES + 1, 3)}
    assert outcome == {
        minute: ("Succeeded", None) if minute in ran else ("Skipped", "overlap")
        for minute in range(MINUTES + 1)
    }
    # The task with the default policy ran every fire time, three at a time.
    assert [row.status for row in rows if row.task_id == plain.id] == ["Succeeded"] * (MINUTES + 1)
