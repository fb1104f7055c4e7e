"""Distributors and processors on real PostgreSQL and RabbitMQ, calling a local HTTP sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.handlers import HandlerSettings, load_handlers
from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_runs, task_schedule, tasks
from engine.core.outbound import parse_allowlist
from engine.ports import OutgoingMessage
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from engine.services.dead_letters import replay_dead_letters
from tests.integration.helpers import add_task_type, add_tasks, status_counts, wait_for
from tests.sink import running_sink

pytestmark = pytest.mark.integration


@contextmanager
def fleet(
    engine: Engine,
    amqp_url: str,
    queue: str,
    distributors: int = 1,
    processors: int = 1,
    **processor_config: object,
) -> Iterator[None]:
    """Distributors and processors on threads, each with its own broker connection."""
    stop = threading.Event()
    handlers = load_handlers(HandlerSettings(parse_allowlist("127.0.0.1")))
    threads = []
    for i in range(distributors):
        distributor = Distributor(
            engine, RabbitMQBroker(amqp_url, queue), DistributorConfig(f"d{i}", batch_size=200)
        )
        threads.append(threading.Thread(target=distributor.run, args=(stop,)))
    for i in range(processors):
        config = ProcessorConfig(f"p{i}", concurrency=8, prefetch=2, heartbeat_s=0.5, **processor_config)  # type: ignore[arg-type]
        processor = Processor(engine, RabbitMQBroker(amqp_url, queue), handlers, config)
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


def test_2000_immediate_and_due_tasks_each_reach_the_sink_once(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    now = datetime.now(UTC)
    with running_sink() as sink:
        payload = {"url": f"{sink.url}/ok", "method": "POST", "json": {"hello": "world"}}
        add_tasks(pg_engine, 1_000, now, payload)
        add_tasks(pg_engine, 1_000, now, payload, kind="once", run_at=now + timedelta(seconds=2))
        assert run_pass(pg_engine, now).rows_inserted == 2_000
        with fleet(pg_engine, amqp_url, queue_base, distributors=2, processors=2):
            wait_for(lambda: status_counts(pg_engine).get("Succeeded") == 2_000, 120, "2,000 successes")
        with pg_engine.connect() as connection:
            ids = connection.execute(select(task_schedule.c.id)).scalars().all()
            runs = connection.execute(select(task_runs.c.schedule_id)).scalars().all()
            failures = connection.execute(
                select(task_runs.c.schedule_id, task_runs.c.error).where(task_runs.c.outcome != "succeeded")
            ).all()
            lags = connection.execute(select(task_schedule.c.start_lag_ms)).scalars().all()
        assert status_counts(pg_engine) == {"Succeeded": 2_000}
        assert sorted(sink.keys) == sorted(str(i) for i in ids)
        assert set(sink.keys.values()) == {1}
        assert failures == []
        assert sorted(runs) == sorted(ids)
        assert all(lag is not None for lag in lags)


def test_failing_endpoint_is_tried_the_configured_times_then_dead_and_replayable(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    add_task_type(pg_engine, "flaky", "http", max_attempts=3, retry_base_ms=100)
    now = datetime.now(UTC)
    with running_sink() as sink:
        add_tasks(pg_engine, 1, now, {"url": f"{sink.url}/fail"}, task_type="flaky")
        run_pass(pg_engine, now)
        with fleet(pg_engine, amqp_url, queue_base):
            wait_for(lambda: status_counts(pg_engine) == {"Dead": 1}, 30, "Dead")
            broker = RabbitMQBroker(amqp_url, queue_base)
            wait_for(lambda: broker.queue_counts()[f"{queue_base}.dlq"][0] == 1, 10, "a dead letter")
            assert sum(sink.keys.values()) == 3
            with pg_engine.connect() as connection:
                outcomes = connection.execute(
                    select(task_runs.c.attempt, task_runs.c.outcome).order_by(task_runs.c.attempt)
                ).all()
                row = connection.execute(select(task_schedule)).one()
            assert [tuple(o) for o in outcomes] == [
                (1, "http_status"),
                (2, "http_status"),
                (3, "http_status"),
            ]
            assert row.attempt == 3 and row.last_error.startswith("http_status: HTTP 500")

            # The endpoint is fixed; replay gives the row a fresh set of attempts.
            with pg_engine.begin() as connection:
                connection.execute(update(tasks).values(payload={"url": f"{sink.url}/ok"}))
            report = replay_dead_letters(pg_engine, broker, set(), 10)
            assert (report.replayed, report.malformed) == (1, 0)
            wait_for(lambda: status_counts(pg_engine) == {"Succeeded": 1}, 30, "replayed success")
            assert broker.queue_counts()[f"{queue_base}.dlq"][0] == 0
        broker.delete_queues([100, 200])


def test_poison_message_goes_to_the_dead_letter_queue_once(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    broker = RabbitMQBroker(amqp_url, queue_base)
    broker.publish([OutgoingMessage(b"\x00 not a task", "poison")])
    with fleet(pg_engine, amqp_url, queue_base, distributors=0):
        wait_for(lambda: broker.queue_counts()[f"{queue_base}.dlq"][0] == 1, 20, "the poison in the DLQ")
        time.sleep(0.5)
        assert broker.queue_counts()[queue_base][0] == 0
    reasons: list[str] = []
    broker.visit_dead_letters(lambda letter: reasons.append(letter.reason) or False, 10)
    assert len(reasons) == 1 and reasons[0].startswith("malformed: not JSON")
    report = replay_dead_letters(pg_engine, broker, set(), 10)
    assert (report.replayed, report.malformed) == (0, 1)  # kept, not looped back


def test_two_distributors_never_publish_a_row_twice(pg_engine: Engine) -> None:
    from engine.adapters.memory_broker import MemoryBroker

    now = datetime.now(UTC)
    add_tasks(pg_engine, 3_000, now, {})
    run_pass(pg_engine, now)
    published: list[bytes] = []
    lock = threading.Lock()

    class Recording(MemoryBroker):
        def publish(self, messages: list[OutgoingMessage]) -> list[bool]:  # type: ignore[override]
            with lock:
                published.extend(m.message_id.encode() for m in messages)
            return [True] * len(messages)

    distributors = [
        Distributor(pg_engine, Recording(), DistributorConfig(f"d{i}", batch_size=100)) for i in range(2)
    ]

    def drain(distributor: Distributor) -> None:
        while distributor.run_once().claimed:
            pass

    threads = [threading.Thread(target=drain, args=(d,)) for d in distributors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(published) == 3_000 and len(set(published)) == 3_000
    assert status_counts(pg_engine) == {"Queued": 3_000}
