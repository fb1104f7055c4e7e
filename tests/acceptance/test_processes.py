"""`headway up`, `headway processor` and `headway dlq` as users run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from engine.adapters.database import create_db_engine
from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import processor_heartbeats, task_schedule
from engine.processes.scheduler import run_pass
from tests.acceptance.faults import Headway, wait_for
from tests.integration.helpers import add_task_type, add_tasks, status_counts
from tests.sink import Sink, running_sink

pytestmark = pytest.mark.acceptance


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


def headway(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def heartbeat_pids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(processor_heartbeats.c.pid)).scalars())


def test_headway_up_runs_tasks_and_recovers_them_after_kill_9(sink: Sink, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    env = {
        "HEADWAY_DATABASE_URL": url,
        "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
        "HEADWAY_BROKER_URL": "memory://",
    }
    assert headway("db", "upgrade", env=env).returncode == 0
    engine = create_db_engine(url)
    add_tasks(engine, 6, datetime.now(UTC), {"url": f"{sink.url}/slow?ms=1500"})
    first = Headway(["up", "--no-api", "--no-dashboard", "--concurrency", "2"], env, tmp_path, "up-first")
    try:
        wait_for(lambda: status_counts(engine).get("Running") == 2, 30, "two tasks running")
        wait_for(lambda: heartbeat_pids(engine) == [first.pid], 30, "the first heartbeat")
        first.kill9()
        assert status_counts(engine).get("Succeeded", 0) < 6
        second = Headway(
            ["up", "--no-api", "--no-dashboard", "--concurrency", "4"], env, tmp_path, "up-second"
        )
        wait_for(lambda: status_counts(engine) == {"Succeeded": 6}, 60, "every task to succeed after restart")
        assert second.terminate() == 0
    finally:
        first.close()
    assert "recovered" in (tmp_path / "up-second.log").read_text()
    # The clean exit removed its own heartbeat; the killed one's goes stale.
    assert heartbeat_pids(engine) == [first.pid]
    engine.dispose()


def test_processor_sigterm_lets_the_running_task_finish_and_exits_0(
    pg_url: str, amqp_url: str, queue_base: str, sink: Sink, tmp_path: Path
) -> None:
    env = {
        "HEADWAY_DATABASE_URL": pg_url,
        "HEADWAY_BROKER_URL": amqp_url,
        "HEADWAY_QUEUE": queue_base,
        "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
    }
    engine = create_db_engine(pg_url)
    now = datetime.now(UTC)
    add_tasks(engine, 1, now, {"url": f"{sink.url}/slow?ms=2000"})
    run_pass(engine, now)
    assert "1 published" in headway("distributor", "--once", env=env).stdout
    processor = Headway(["processor"], env, tmp_path, "processor")
    try:
        wait_for(lambda: status_counts(engine) == {"Running": 1}, 30, "the task to start")
        wait_for(lambda: sink.count() == 1, 30, "its handler to reach the endpoint")  # not only the row
        with engine.connect() as connection:
            assert len(connection.execute(select(processor_heartbeats)).all()) == 1
        assert processor.terminate() == 0
    finally:
        processor.close()
    log = processor.log_path.read_text()
    assert f"queue {queue_base} (quorum), concurrency 4, prefetch 1" in log  # what it runs with
    assert "stopped" in log.splitlines()[-1]
    assert status_counts(engine) == {"Succeeded": 1}
    engine.dispose()


def test_dlq_list_and_replay(pg_url: str, amqp_url: str, queue_base: str, sink: Sink, tmp_path: Path) -> None:
    env = {
        "HEADWAY_DATABASE_URL": pg_url,
        "HEADWAY_BROKER_URL": amqp_url,
        "HEADWAY_QUEUE": queue_base,
        "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
    }
    engine = create_db_engine(pg_url)
    add_task_type(engine, "once-only", "http", max_attempts=1)
    now = datetime.now(UTC)
    add_tasks(engine, 2, now, {"url": f"{sink.url}/fail"}, task_type="once-only")
    run_pass(engine, now)
    headway("distributor", "--once", env=env)
    processor = Headway(["processor"], env, tmp_path, "processor")
    try:
        wait_for(lambda: status_counts(engine) == {"Dead": 2}, 30, "both tasks dead")
        listing = headway("dlq", "list", "--json", env=env)
        while len(listing.stdout.splitlines()) < 2:  # the second may still be on its way
            listing = headway("dlq", "list", "--json", env=env)
        entries = [json.loads(line) for line in listing.stdout.splitlines()]
        assert all(e["reason"].startswith("http_status: HTTP 500") for e in entries)
        with engine.connect() as connection:
            ids = sorted(connection.execute(select(task_schedule.c.id)).scalars())
        assert sorted(e["schedule_id"] for e in entries) == ids

        everything = headway("dlq", "replay", env=env)  # all of them only when asked to
        assert everything.returncode == 2 and "--all" in everything.stderr
        replayed = headway("dlq", "replay", str(ids[0]), env=env)
        assert replayed.returncode == 0 and replayed.stdout.startswith("1 replayed"), replayed.stderr
        again = headway("dlq", "replay", str(ids[0]), env=env)
        assert again.returncode == 1
        assert again.stderr == f"error: not dead, nothing replayed: row {ids[0]}\n"
        assert headway("distributor", "--once", env=env).returncode == 0
        wait_for(lambda: status_counts(engine) == {"Dead": 2}, 30, "the replayed task to die again")
        assert sink.keys[str(ids[0])] == 2 and sink.keys[str(ids[1])] == 1
        assert processor.terminate() == 0
    finally:
        processor.close()
    engine.dispose()


@pytest.mark.parametrize("second_signal", [False, True])
def test_processor_sigterm_always_ends_giving_back_what_it_holds(
    pg_url: str, amqp_url: str, queue_base: str, sink: Sink, tmp_path: Path, second_signal: bool
) -> None:
    # Tasks much longer than the grace (or a second SIGTERM within it): the processor gives
    # them back and exits; nothing is lost, the next processor runs them.
    env = {
        "HEADWAY_DATABASE_URL": pg_url,
        "HEADWAY_BROKER_URL": amqp_url,
        "HEADWAY_QUEUE": queue_base,
        "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
        "HEADWAY_SHUTDOWN_GRACE_S": "60" if second_signal else "1",
    }
    engine = create_db_engine(pg_url)
    now = datetime.now(UTC)
    add_task_type(engine, "slow", "http", timeout_ms=120_000)
    add_tasks(engine, 3, now, {"url": f"{sink.url}/slow?ms=60000"}, task_type="slow")
    run_pass(engine, now)
    assert "3 published" in headway("distributor", "--once", env=env).stdout
    processor = Headway(["processor", "--concurrency", "2", "--prefetch", "4"], env, tmp_path, "processor")
    try:
        wait_for(lambda: status_counts(engine).get("Running") == 3, 30, "the tasks to start")
        # The rows turn Running as the batch starts, a moment before the workers take two of
        # them up: a SIGTERM in between gives all three back at once and the process ends.
        wait_for(lambda: sink.count() == 2, 30, "two handlers to reach the endpoint")
        processor.process.send_signal(signal.SIGTERM)
        if second_signal:
            time.sleep(1)
            assert processor.alive(), "the first SIGTERM waits for the running tasks"
            processor.process.send_signal(signal.SIGTERM)
        code = processor.process.wait(15)
    finally:
        processor.close()
    assert code == (128 + signal.SIGTERM if second_signal else 0)
    if not second_signal:
        assert status_counts(engine) == {"Queued": 3}  # given back, to start again
    broker = RabbitMQBroker(amqp_url, queue_base)
    wait_for(lambda: broker.queue_counts()[queue_base][0] == 3, 10, "all three messages back in the queue")
    engine.dispose()


def test_sigusr1_prints_every_thread_stack_and_the_process_goes_on(pg_url: str, tmp_path: Path) -> None:
    # How an operator sees where a process that neither progresses nor stops is waiting.
    env = {"HEADWAY_DATABASE_URL": pg_url, "HEADWAY_SCHEDULER_INTERVAL_S": "0.2"}
    scheduler = Headway(["scheduler"], env, tmp_path, "scheduler")
    try:
        wait_for(lambda: "scheduler" in scheduler.log().lower(), 30, "the scheduler's first log line")
        scheduler.process.send_signal(signal.SIGUSR1)
        wait_for(lambda: "engine/processes/scheduler.py" in scheduler.log(), 10, "the stack dump")
        assert scheduler.alive(), "the dump does not stop the process"
        assert "Current thread" in scheduler.log() or "Thread 0x" in scheduler.log()
        assert scheduler.terminate() == 0
    finally:
        scheduler.close()
