"""The processor on PostgreSQL and RabbitMQ against rows the database refuses, a stop while
messages wait in a database outage, and parked copies that must share a few delay queues."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pika
import pika.exceptions
import pytest
from sqlalchemy import Engine, select, text

from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule
from engine.core.execution import TaskContext
from engine.core.messages import TaskMessage, encode_message
from engine.ports import DeadLetter, Handler, OutgoingMessage
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_task_type, add_tasks, status_counts, wait_for
from tests.unit.test_processor_faults import FakeMonotonic, Outage, running

pytestmark = pytest.mark.integration


def schedule_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(task_schedule.c.id).order_by(task_schedule.c.id)).scalars())


def publish_rows(engine: Engine, broker: RabbitMQBroker, ids: list[int]) -> None:
    now = datetime.now(UTC)
    messages = [TaskMessage(row, 1, "job", 1, now) for row in ids]
    assert broker.publish([OutgoingMessage(encode_message(m), m.idempotency_key) for m in messages]) == [
        True
    ] * len(ids)


def rows_for(engine: Engine, count: int) -> list[int]:
    add_task_type(engine, "job", "job")
    now = datetime.now(UTC)
    add_tasks(engine, count, now, {}, task_type="job")
    run_pass(engine, now)
    return schedule_ids(engine)


def letters(broker: RabbitMQBroker) -> list[DeadLetter]:
    seen: list[DeadLetter] = []
    broker.visit_dead_letters(lambda letter: seen.append(letter) or False, 100)
    return seen


def refuse(engine: Engine, row: int, status: str) -> None:
    """A trigger that fails any change of row `row` to `status`: a row the database cannot
    write, whatever the reason (here a raised exception, in the field a value out of range)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.id = {row} AND NEW.status = '{status}' THEN"
                " RAISE EXCEPTION 'row % refused', NEW.id; END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_row BEFORE UPDATE ON task_schedule"
                " FOR EACH ROW EXECUTE FUNCTION refuse_row()"
            )
        )


@pytest.mark.parametrize("status", ["Running", "Succeeded"])
def test_a_row_the_database_refuses_is_isolated_and_its_batch_goes_on(
    pg_engine: Engine, amqp_url: str, queue_base: str, status: str
) -> None:
    rows = rows_for(pg_engine, 8)
    bad = rows[3]
    refuse(pg_engine, bad, status)
    broker = RabbitMQBroker(amqp_url, queue_base)
    publish_rows(pg_engine, broker, rows)
    handlers: dict[str, Handler] = {"job": lambda context: "done"}
    processor = Processor(
        pg_engine,
        RabbitMQBroker(amqp_url, queue_base),
        handlers,
        ProcessorConfig("p1", concurrency=4, prefetch=4),
    )
    with running(processor):
        wait_for(lambda: status_counts(pg_engine).get("Succeeded") == 7, 20, "the other rows to succeed")
        wait_for(lambda: len(letters(broker)) == 1, 10, "the refused row's message dead-lettered")
    [letter] = letters(broker)
    assert f"row {bad} refused" in letter.reason
    with pg_engine.connect() as connection:
        row = connection.execute(select(task_schedule).where(task_schedule.c.id == bad)).one()
    if status == "Running":  # it can never start: Dead with the reason, until replayed
        assert letter.reason.startswith("cannot be started")
        assert (row.status, row.last_error) == ("Dead", letter.reason)
    else:  # ran, but its outcome could not be written: Dead with the reason
        assert (row.status, row.last_error.startswith("outcome could not be recorded")) == ("Dead", True)
    assert broker.queue_counts()[queue_base] == (0, 0)


def test_output_with_nul_characters_is_recorded_on_postgresql(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    rows = rows_for(pg_engine, 1)
    broker = RabbitMQBroker(amqp_url, queue_base)
    publish_rows(pg_engine, broker, rows)
    processor = Processor(
        pg_engine,
        RabbitMQBroker(amqp_url, queue_base),
        {"job": lambda context: "a\x00b"},
        ProcessorConfig("p1"),
    )
    with running(processor):
        wait_for(lambda: status_counts(pg_engine) == {"Succeeded": 1}, 20, "the row to succeed")


def test_stop_ends_even_when_messages_arrived_while_the_database_was_away(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    rows = rows_for(pg_engine, 4)
    broker = RabbitMQBroker(amqp_url, queue_base)
    entered, release = threading.Event(), threading.Event()

    def slow(context: TaskContext) -> str:
        entered.set()
        release.wait(20)
        return "done"

    outage = Outage(pg_engine)
    clock = FakeMonotonic()
    config = ProcessorConfig("p1", concurrency=1, prefetch=4, heartbeat_s=0.2, shutdown_grace_s=1)
    processor = Processor(
        pg_engine, RabbitMQBroker(amqp_url, queue_base), {"job": slow}, config, monotonic=clock
    )
    try:
        with running(processor) as stop:
            publish_rows(pg_engine, broker, rows[:1])
            assert entered.wait(10)
            outage.down = True
            publish_rows(pg_engine, broker, rows[1:2])
            wait_for(lambda: outage.refused >= 2, 10, "the start to wait for the database")
            # These arrive while the coordinator waits for the database with the first one.
            publish_rows(pg_engine, broker, rows[2:])
            wait_for(
                lambda: RabbitMQBroker(amqp_url, queue_base).queue_counts()[queue_base][0] == 0,
                10,
                "every message delivered",
            )
            stop.set()
            refused = outage.refused
            # Two more tries: the coordinator has seen the stop and fixed the grace's end.
            wait_for(lambda: outage.refused >= refused + 2, 15, "the start to try again")
            clock.now = 100.0  # the grace is over
    finally:
        release.set()
        outage.down = False
    # Everything went back to the queue: nothing held, nothing lost.
    wait_for(lambda: broker.queue_counts()[queue_base] == (4, 0), 10, "all four messages back in the queue")


def queue_exists(amqp_url: str, name: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def test_parked_copies_and_retries_share_a_few_delay_queues(amqp_url: str, queue_base: str) -> None:
    broker = RabbitMQBroker(amqp_url, queue_base)
    delays = [1_001, 1_234, 1_500, 1_999, 2_000, 3_100]
    broker.publish([OutgoingMessage(str(d).encode(), str(d)) for d in delays])
    back: list[bytes] = []
    stop = threading.Event()

    def park(delivery: object) -> None:
        body = delivery.body  # type: ignore[attr-defined]
        if delivery.redelivered or body.startswith(b"back"):  # type: ignore[attr-defined]
            back.append(body)
            delivery.ack()  # type: ignore[attr-defined]
            if len(back) == len(delays):
                stop.set()
            return
        delivery.retry(b"back " + body, int(body))  # type: ignore[attr-defined]

    thread = threading.Thread(target=RabbitMQBroker(amqp_url, queue_base).consume, args=(park, 50, stop))
    thread.start()
    thread.join(20)
    stop.set()
    thread.join(5)
    assert sorted(back) == sorted(b"back " + str(d).encode() for d in delays)
    assert [queue_exists(amqp_url, f"{queue_base}.retry.{d}") for d in delays] == [False] * 4 + [True, False]
    assert queue_exists(amqp_url, f"{queue_base}.retry.4000")
    broker.delete_queues([2_000, 4_000])


def test_stop_gives_back_at_once_what_no_worker_has_taken_up(
    pg_engine: Engine, amqp_url: str, queue_base: str
) -> None:
    # One slot, four messages held (prefetch 4): on stop the three waiting for the slot go
    # back to `Queued` and to the queue at once, while the running one finishes in its grace.
    rows = rows_for(pg_engine, 4)
    broker = RabbitMQBroker(amqp_url, queue_base)
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(context: TaskContext) -> str:
        calls.append(context.schedule_id)
        entered.set()
        release.wait(20)
        return "done"

    config = ProcessorConfig("p1", concurrency=1, prefetch=4, heartbeat_s=0.2, shutdown_grace_s=30)
    processor = Processor(pg_engine, RabbitMQBroker(amqp_url, queue_base), {"job": slow}, config)
    try:
        with running(processor) as stop:
            publish_rows(pg_engine, broker, rows)
            assert entered.wait(10)
            wait_for(lambda: status_counts(pg_engine) == {"Running": 4}, 10, "all four started here")
            stop.set()
            wait_for(lambda: status_counts(pg_engine) == {"Running": 1, "Queued": 3}, 10, "three given back")
            wait_for(lambda: broker.queue_counts()[queue_base][0] == 3, 10, "their messages in the queue")
            release.set()
    finally:
        release.set()
    assert status_counts(pg_engine) == {"Succeeded": 1, "Queued": 3}
    assert len(calls) == 1
