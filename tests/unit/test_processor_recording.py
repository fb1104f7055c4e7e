"""When the processor records outcomes: starts come first during a burst, but no outcome
waits long, and a processor whose window is full records at once (over SQLite and the
in-process broker)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine

import engine.processes.processor as processor_module
from engine.adapters.memory_broker import MemoryBroker
from engine.core.execution import TaskContext
from engine.processes.processor import RECORD_WITHIN_S
from tests.unit.test_flow_memory import Running, add_rows, distribute, statuses, wait_for


def no_op(context: TaskContext) -> str:
    return "done"


def succeeded(engine: Engine, row_id: int) -> bool:
    return statuses(engine).get(row_id, ("", 0))[0] == "Succeeded"


def test_outcomes_are_recorded_within_a_second_while_messages_keep_arriving(engine: Engine) -> None:
    broker = MemoryBroker()
    processor = Running(engine, broker, {"job": no_op}, concurrency=2, prefetch=500)
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:  # a new due row every 20 ms: never a 50 ms pause
        while streaming.is_set():
            add_rows(engine, 1)
            distribute(engine, broker)
            time.sleep(0.02)

    feeder = threading.Thread(target=stream)
    try:
        [first] = add_rows(engine, 1)
        distribute(engine, broker)
        published = time.monotonic()
        feeder.start()
        wait_for(lambda: succeeded(engine, first), timeout_s=5)
        # A processor that waited for a pause in arrivals would not record before the feeder
        # stops (after this wait); the bound leaves room for a loaded machine's scheduling.
        assert time.monotonic() - published < RECORD_WITHIN_S + 3
        assert streaming.is_set() and feeder.is_alive()  # recorded while messages kept coming
    finally:
        streaming.clear()
        feeder.join(10)
        processor.close()
    assert all(status == "Succeeded" for status, _ in statuses(engine).values())


def test_a_processor_holding_all_it_may_records_at_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One slot, prefetch 1: each outcome must be recorded before the next message can come,
    # so waiting for a pause in arrivals (made 5 s here) would cost every task the record
    # bound of RECORD_WITHIN_S: 40 s in all, far from what recording at once takes even on a
    # loaded machine.
    monkeypatch.setattr(processor_module, "QUIET_BEFORE_RECORD_S", 5.0)
    broker = MemoryBroker()
    rows = add_rows(engine, 40)
    distribute(engine, broker)
    began = time.monotonic()
    processor = Running(engine, broker, {"job": no_op}, concurrency=1, prefetch=1)
    try:
        wait_for(lambda: all(succeeded(engine, row) for row in rows), timeout_s=30)
    finally:
        processor.close()
    assert time.monotonic() - began < 12 * RECORD_WITHIN_S
