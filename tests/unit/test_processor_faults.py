"""The processor against hostile messages and a database that goes away while it stops
(SQLite and the in-process broker; the same on PostgreSQL and RabbitMQ in
tests/integration/test_processor_faults.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from engine.adapters.memory_broker import MemoryBroker
from engine.core.execution import TaskContext
from engine.core.messages import TaskMessage, encode_message
from engine.ports import DeadLetter, OutgoingMessage
from engine.processes.processor import Processor, ProcessorConfig
from tests.unit.test_flow_memory import NOW, Running, add_rows, distribute, statuses, wait_for


def dead_letters(broker: MemoryBroker) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    broker.visit_dead_letters(lambda letter: letters.append(letter) or False, 100)
    return letters


def body(**changes: Any) -> bytes:
    data = json.loads(encode_message(TaskMessage(1, 1, "job", 1, NOW)))
    data.update(changes)
    return json.dumps(data).encode()


HOSTILE = [
    body(schedule_id=2**63),  # beyond BIGINT: failed every start batch, forever
    body(attempt=2**31),  # beyond INTEGER
    body(scheduled_time="0001-01-01T00:00:00+14:00"),  # overflows on conversion to UTC
    b"\x00\xff",
]


def test_hostile_messages_are_dead_lettered_and_the_rows_beside_them_run(engine: Engine) -> None:
    broker = MemoryBroker()
    rows = add_rows(engine, 6)
    # The hostile messages go first, so that they share a start batch with the good ones.
    broker.publish([OutgoingMessage(b, f"h{i}") for i, b in enumerate(HOSTILE)])
    distribute(engine, broker)
    processor = Running(engine, broker, {"job": lambda context: "done"}, concurrency=2, prefetch=10)
    try:
        wait_for(lambda: all(statuses(engine)[row][0] == "Succeeded" for row in rows), timeout_s=10)
        wait_for(lambda: len(dead_letters(broker)) == len(HOSTILE), timeout_s=5)
    finally:
        processor.close()
    reasons = sorted(letter.reason for letter in dead_letters(broker))
    assert any("schedule_id must be an integer from 1 to 9223372036854775807" in r for r in reasons)
    assert any("attempt must be an integer from 1 to 2147483647" in r for r in reasons)
    assert any("scheduled_time" in r for r in reasons)
    assert all(r.startswith("malformed: ") for r in reasons)
    assert broker.counts() == {"ready": 0, "delayed": 0, "unsettled": 0, "dead": len(HOSTILE)}


def test_output_with_nul_characters_is_recorded(engine: Engine) -> None:
    broker = MemoryBroker()
    [row] = add_rows(engine, 1)
    distribute(engine, broker)
    processor = Running(engine, broker, {"job": lambda context: "a\x00b"})
    try:
        wait_for(lambda: statuses(engine)[row][0] == "Succeeded", timeout_s=5)
    finally:
        processor.close()


class Outage:
    """Makes every statement on `engine` fail as a lost connection would, while `down`;
    `refused` counts the statements refused outside the heartbeat thread."""

    def __init__(self, engine: Engine) -> None:
        self.down = False
        self.refused = 0
        event.listen(engine, "before_cursor_execute", self._check)

    def _check(self, *_args: Any) -> None:
        if self.down:
            if threading.current_thread().name != "headway-heartbeat":
                self.refused += 1
            raise OperationalError("statement", None, ConnectionError("database down"))


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def running(processor: Processor) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the processor did not stop"


def test_a_task_finished_while_stopping_in_a_database_outage_is_recorded_not_run_again(
    engine: Engine,
) -> None:
    broker = MemoryBroker()
    [row] = add_rows(engine, 1)
    distribute(engine, broker)
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def job(context: TaskContext) -> str:
        calls.append(context.idempotency_key)
        entered.set()
        release.wait(10)
        return "done"

    outage = Outage(engine)
    clock = FakeMonotonic()
    # The task type's timeout is 2 s: the grace is 3 s whether the task runs or waits to be
    # recorded.
    processor = Processor(
        engine, broker, {"job": job}, ProcessorConfig("p1", concurrency=1, heartbeat_s=0.2), monotonic=clock
    )
    with running(processor) as stop:
        assert entered.wait(5)
        outage.down = True
        stop.set()
        release.set()  # finished, and its outcome cannot be recorded yet
        wait_for(lambda: outage.refused >= 2, timeout_s=10)
        clock.now = 2.5  # past a grace that counted only running tasks (1 s), within 3 s
        refused = outage.refused
        wait_for(lambda: outage.refused > refused + 1, timeout_s=10)  # still trying
        outage.down = False
    assert statuses(engine)[row] == ("Succeeded", 1)
    assert calls == [str(row)]
    assert broker.counts() == {"ready": 0, "delayed": 0, "unsettled": 0, "dead": 0}


def test_when_the_grace_ends_in_an_outage_the_task_is_given_back_and_the_processor_exits(
    engine: Engine,
) -> None:
    broker = MemoryBroker()
    add_rows(engine, 1)
    distribute(engine, broker)
    entered, release = threading.Event(), threading.Event()

    def job(context: TaskContext) -> str:
        entered.set()
        release.wait(10)
        return "done"

    outage = Outage(engine)
    clock = FakeMonotonic()
    processor = Processor(
        engine, broker, {"job": job}, ProcessorConfig("p1", concurrency=1, heartbeat_s=0.2), monotonic=clock
    )
    with running(processor) as stop:
        assert entered.wait(5)
        outage.down = True
        stop.set()
        release.set()  # finished, and its outcome cannot be recorded
        wait_for(lambda: outage.refused >= 2, timeout_s=10)  # the grace runs from clock 0
        clock.now = 10.0
    outage.down = False
    # Given back: the message is in the queue again for the next processor (the row is
    # still Running under this processor's lease, which lapses).
    assert broker.counts()["ready"] == 1
