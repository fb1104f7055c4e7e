"""A task's own timeout and attempt budget, on both dialects: the processor hands them to
the handler and decides retries by them, in place of the task type's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.handlers import HandlerSettings, load_handlers
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.run_store import start_runs
from engine.adapters.tables import task_runs, task_schedule, task_types
from engine.core.messages import TaskMessage
from engine.core.outbound import parse_allowlist
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from tests.integration.helpers import wait_for
from tests.sink import running_sink

pytestmark = pytest.mark.integration


def immediate(engine: Engine, now: datetime, url: str, **overrides: int) -> int:
    spec = TaskInput.model_validate(
        {"name": url, "task_type": "http", "kind": "immediate", "payload": {"url": url}} | overrides
    )
    return create_task(engine, spec, now).id


def test_a_started_run_carries_the_tasks_overrides_or_its_types_values(db_engine: Engine) -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    own = immediate(db_engine, now, "https://example.org/a", timeout_s=5, max_attempts=1)
    typed = immediate(db_engine, now, "https://example.org/b")
    run_pass(db_engine, now)
    with db_engine.connect() as connection:
        rows = dict(connection.execute(select(task_schedule.c.task_id, task_schedule.c.id)).all())
    messages = [TaskMessage(rows[task], task, "http", 1, now) for task in (own, typed)]
    with db_engine.begin() as connection:
        started, _ = start_runs(connection, messages, "p1", now, now + timedelta(seconds=30))
    contexts = {run.context.task_id: run.context for run in started}
    # The http type's own values (sql/<dialect>/0001_schema.sql): 30 s, 3 attempts.
    assert (contexts[own].timeout_s, contexts[own].max_attempts) == (5, 1)
    assert (contexts[typed].timeout_s, contexts[typed].max_attempts) == (30, 3)


def test_the_processor_times_out_and_gives_up_by_the_tasks_own_limits(db_engine: Engine) -> None:
    now = datetime.now(UTC)
    # The lenient task's retry an hour away: due within the wait, it started and was given
    # back at the stop, leaving the row Queued.
    with db_engine.begin() as connection:
        http = task_types.c.name == "http"
        config = connection.execute(select(task_types.c.config).where(http)).scalar_one()
        slow_retries = {**(config or {}), "retry_base_ms": 3_600_000}
        connection.execute(update(task_types).where(http).values(config=slow_retries))
    with running_sink() as sink:
        # The type allows 30 s and 3 attempts; this task 1 s and one attempt.
        strict = immediate(db_engine, now, f"{sink.url}/slow?ms=3000", timeout_s=1, max_attempts=1)
        lenient = immediate(db_engine, now, f"{sink.url}/fail")
        run_pass(db_engine, now)
        broker = MemoryBroker()
        Distributor(db_engine, broker, DistributorConfig("d1")).run_once()
        handlers = load_handlers(HandlerSettings(parse_allowlist("127.0.0.1")))
        stop = threading.Event()
        processor = Processor(db_engine, broker, handlers, ProcessorConfig("p1", concurrency=2))
        thread = threading.Thread(target=processor.run, args=(stop,))
        thread.start()
        try:
            wait_for(lambda: len(outcomes(db_engine)) == 2, 20, "both first attempts")
        finally:
            stop.set()
            thread.join(30)
    found = outcomes(db_engine)
    assert found[strict][:2] == ("Dead", "timeout")  # no retry: its budget was one attempt
    assert found[lenient][0] == "Failed" and found[lenient][2] is not None  # two attempts left


def outcomes(engine: Engine) -> dict[int, tuple[str, str | None, datetime | None]]:
    """Per task with a recorded attempt: its row's status, the attempt's outcome, and when
    the next attempt is due."""
    s = task_schedule.c
    query = select(s.task_id, s.status, task_runs.c.outcome, s.next_attempt_at).join(
        task_runs, task_runs.c.schedule_id == s.id
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {row.task_id: (row.status, row.outcome, row.next_attempt_at) for row in rows}
