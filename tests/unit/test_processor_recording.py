"""When the processor records outcomes: starts come first during a burst, but no outcome
waits long, and a processor whose window is full records at once (over SQLite and the
in-process broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from engine.adapters.database import create_db_engine
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.tables import task_types
from engine.core.execution import TaskContext
from engine.processes.processor import RECORD_WITHIN_S
from tests.unit.test_flow_memory import Running, add_rows, distribute, statuses, wait_for


@pytest.fixture
def jobs(sqlite_url: str) -> Iterator[Engine]:
    engine = create_db_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="job", handler="job", expected_duration_ms=1, timeout_ms=2_000, max_attempts=3, config={}
            )
        )
    yield engine
    engine.dispose()


def no_op(context: TaskContext) -> str:
    return "done"


def succeeded(engine: Engine, row_id: int) -> bool:
    return statuses(engine).get(row_id, ("", 0))[0] == "Succeeded"


def test_outcomes_are_recorded_within_a_second_while_messages_keep_arriving(jobs: Engine) -> None:
    broker = MemoryBroker()
    processor = Running(jobs, broker, {"job": no_op}, concurrency=2, prefetch=500)
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:  # a new due row every 20 ms: never a 50 ms pause
        while streaming.is_set():
            add_rows(jobs, 1)
            distribute(jobs, broker)
            time.sleep(0.02)

    feeder = threading.Thread(target=stream)
    try:
        [first] = add_rows(jobs, 1)
        distribute(jobs, broker)
        published = time.monotonic()
        feeder.start()
        wait_for(lambda: succeeded(jobs, first), timeout_s=5)
        assert time.monotonic() - published < RECORD_WITHIN_S + 0.6
        assert streaming.is_set() and feeder.is_alive()  # recorded while messages kept coming
    finally:
        streaming.clear()
        feeder.join(10)
        processor.close()
    assert all(status == "Succeeded" for status, _ in statuses(jobs).values())


def test_a_processor_holding_all_it_may_records_at_once(jobs: Engine) -> None:
    # One slot, prefetch 1: each outcome must be recorded before the next message can come,
    # so waiting for a pause in arrivals would cost every task that wait.
    broker = MemoryBroker()
    rows = add_rows(jobs, 40)
    distribute(jobs, broker)
    began = time.monotonic()
    processor = Running(jobs, broker, {"job": no_op}, concurrency=1, prefetch=1)
    try:
        wait_for(lambda: all(succeeded(jobs, row) for row in rows), timeout_s=10)
    finally:
        processor.close()
    assert time.monotonic() - began < 1.5  # 40 x the 50 ms pause would be 2 s
