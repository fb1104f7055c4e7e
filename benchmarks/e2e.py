"""End-to-end benchmark on real RabbitMQ and PostgreSQL.

10,000 tasks due at the same instant, a no-op handler, real `headway distributor` and
`headway processor` processes (`--concurrency 16 --prefetch 400`: a burst of short tasks
wants all of itself in flight, see the README). Prints, from one run:

- raw pika publishing to a quorum queue with asynchronous confirms, 1,000 in flight;
- raw pika consuming with prefetch 100;
- the broker alone as a pipeline: two raw publishers and two raw consumers at once, no
  database, the ceiling for anything that both publishes and consumes on this machine;
- distribution alone (due rows -> confirmed messages) with one and with two distributors;
- end to end (due -> Succeeded) in tasks/s, and p50/p99 start lag (scheduled time to the
  handler's start, `task_schedule.start_lag_ms`);
- the start lag of tasks due one after another rather than all at once.

The processes are started first and the rows added once every one answers /readyz: a burst
due while they still import and connect measured their start-up (on a slow machine the rows'
insert left them 1.5 s, and the figure fell by a third). Uses a database and queues of its
own and removes them afterwards. Run:
    .venv/bin/python benchmarks/e2e.py [--tasks 10000] [--processors 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pika
import pika.exceptions
from sqlalchemy import Engine, create_engine, func, insert, select, text

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule, task_types, tasks
from engine.core.messages import TaskMessage, encode_message

PG_ADMIN_URL = os.environ.get("HEADWAY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("HEADWAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def raw_publish_rate(queue: str, count: int, in_flight: int = 1_000, begun: Any = None) -> float:
    """Messages/s for persistent publishes with asynchronous confirms, `in_flight` at most.
    The perf_counter instant of the first publish goes on the `begun` queue, if given."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    impl = channel._impl
    state = {"confirmed": 0, "selected": False}

    def on_confirm(frame: pika.frame.Method) -> None:
        state["confirmed"] = max(state["confirmed"], frame.method.delivery_tag)

    impl.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _f: state.update(selected=True))
    while not state["selected"]:
        connection.process_data_events(0.05)
    body = encode_message(TaskMessage(1, 1, "bench", 1, datetime(2026, 1, 1, tzinfo=UTC)))
    properties = pika.BasicProperties(delivery_mode=2)
    begin = time.perf_counter()
    if begun is not None:
        begun.put(begin)
    for sent in range(1, count + 1):
        impl.basic_publish("", queue, body, properties)
        while sent - state["confirmed"] >= in_flight:
            connection.process_data_events(0.01)
    while state["confirmed"] < count:
        connection.process_data_events(0.01)
    elapsed = time.perf_counter() - begin
    connection.close()
    return count / elapsed


def _consume_and_report(queue: str, count: int, done: Any) -> None:
    """Consume `count` messages (prefetch 1,000, one multiple ack per 100), then put the
    perf_counter instant of the last one on `done`."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1_000)
    for received, (method, _properties, _body) in enumerate(
        channel.consume(queue, inactivity_timeout=30), start=1
    ):
        if method is None:
            break
        if received % 100 == 0 or received == count:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if received == count:
            break
    done.put(time.perf_counter())
    connection.close()


def broker_pipeline_rate(queue: str, count: int) -> float:
    """Messages/s through the broker alone: two raw publishers (as `raw_publish_rate`) and two
    raw consumers in processes of their own, at the same time, from the first publish to the
    last message consumed. (perf_counter is the system's monotonic clock on Linux, the same
    in every process.)"""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    connection.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    connection.close()
    context = multiprocessing.get_context("spawn")
    done, begun = context.Queue(), context.Queue()
    half = count // 2
    consumers = [context.Process(target=_consume_and_report, args=(queue, half, done)) for _ in range(2)]
    for consumer in consumers:
        consumer.start()
    time.sleep(2)  # the consumers connect meanwhile
    publishers = [
        context.Process(target=raw_publish_rate, args=(queue, half, 1_000, begun)) for _ in range(2)
    ]
    for publisher in publishers:
        publisher.start()
    begin = min(begun.get(timeout=60) for _ in publishers)
    last = max(done.get(timeout=120) for _ in consumers)
    for process in [*publishers, *consumers]:
        process.join(30)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    connection.channel().queue_delete(queue)
    connection.close()
    return half * 2 / (last - begin)


def raw_consume_rate(queue: str, count: int, prefetch: int = 100) -> float:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    received = 0
    begin = time.perf_counter()
    for method, _properties, _body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        received += 1
        if received == count:
            break
    elapsed = time.perf_counter() - begin
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    return received / elapsed


@contextmanager
def bench_database() -> Iterator[tuple[str, Engine]]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"headway_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(
                insert(task_types).values(
                    name="bench",
                    handler="noop",
                    expected_duration_ms=0,
                    timeout_ms=5_000,
                    max_attempts=3,
                    config={},
                )
            )
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_due_rows(engine: Engine, count: int, due: datetime, spacing: timedelta = timedelta(0)) -> None:
    """`count` schedule rows of the no-op type, the first due at `due`, each next `spacing` later."""
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE task_schedule, task_runs, tasks RESTART IDENTITY CASCADE"))
        task_ids = (
            connection.execute(
                insert(tasks).returning(tasks.c.id), [_once_task(f"bench {i}", due) for i in range(count)]
            )
            .scalars()
            .all()
        )
        connection.execute(
            insert(task_schedule),
            [
                {"task_id": task_id, "scheduled_time": due + i * spacing, "status": "Scheduled", "attempt": 0}
                for i, task_id in enumerate(task_ids)
            ],
        )


def _once_task(name: str, due: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "task_type": "bench",
        "kind": "once",
        "run_at": due,
        "payload": {},
        "active": True,
        "created_at": due,
        "updated_at": due,
        "materialized_until": due,
    }


def start(command: list[str], env: dict[str, str], log_dir: Path, name: str) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *command],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


Added = TypeVar("Added")
# Rows are due this long after the processes are ready: time to add them (3 s for 10,000 on a
# slow machine); a burst due before its rows are in raises rather than measuring the insert.
DUE_AFTER_S = 6.0
HEALTH_PORT_VARIABLES = {
    "processor": "HEADWAY_PROCESSOR_HEALTH_PORT",
    "distributor": "HEADWAY_DISTRIBUTOR_HEALTH_PORT",
}


def start_ready(
    commands: list[tuple[list[str], str]], env: dict[str, str], log_dir: Path, timeout_s: float = 120
) -> list[subprocess.Popen[bytes]]:
    """Start each (command, log name) with a health endpoint of its own and wait until every
    one answers /readyz with 200 (database and broker reached, a loop done)."""
    processes: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    for command, name in commands:
        port = _free_port()
        ports.append(port)
        processes.append(start(command, {**env, HEALTH_PORT_VARIABLES[command[0]]: str(port)}, log_dir, name))
    deadline = time.monotonic() + timeout_s
    try:
        for process, port in zip(processes, ports, strict=True):
            while not _ready(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a benchmarked process did not become ready; logs in {log_dir}")
                time.sleep(0.05)
    except BaseException:
        stop(processes)
        raise
    return processes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def rows_due_soon(add_rows: Callable[[datetime], Added]) -> tuple[datetime, Added]:
    """Call `add_rows(due)` with `due` DUE_AFTER_S from now; returns `due` and what it returned.
    Raises if the rows went in only after `due`: the burst would time their insert."""
    due = datetime.now(UTC) + timedelta(seconds=DUE_AFTER_S)
    added = add_rows(due)
    if datetime.now(UTC) >= due:
        raise RuntimeError(f"adding the rows took over {DUE_AFTER_S} s: the burst would time the insert")
    return due, added


def due_rows_after_ready(engine: Engine, count: int, spacing: timedelta = timedelta(0)) -> datetime:
    """Add `count` rows (add_due_rows), the first due DUE_AFTER_S from now; returns that instant."""
    due, _ = rows_due_soon(lambda due: add_due_rows(engine, count, due, spacing))
    return due


def cpu_s(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds the process has used so far (Linux)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(processes: list[subprocess.Popen[bytes]]) -> list[float]:
    """SIGTERM them all; returns the CPU seconds each used."""
    used = [cpu_s(process) for process in processes]
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(60)
    return used


def wait_until_succeeded(engine: Engine, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            done = connection.execute(
                select(func.count()).where(task_schedule.c.status == "Succeeded")
            ).scalar_one()
        if done >= count:
            return
        time.sleep(0.2)
    raise TimeoutError(f"not all {count} rows succeeded within {timeout_s} s")


def wait_for_queue_depth(queue: str, count: int, timeout_s: float) -> datetime:
    """The instant `queue` came to hold `count` messages. Asks every 25 ms over one connection
    (each look costs the broker and this process CPU the processes measured would otherwise
    have) and places the instant between the last two looks, in proportion to the messages
    that arrived between them."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    deadline = time.monotonic() + timeout_s
    previous = (datetime.now(UTC), 0)
    try:
        while True:
            try:
                depth = channel.queue_declare(queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet
                channel, depth = connection.channel(), 0
            now = datetime.now(UTC)
            if depth >= count:
                before, seen = previous
                share = (count - seen) / max(depth - seen, 1)
                return before + (now - before) * share
            previous = (now, depth)
            if time.monotonic() > deadline:
                raise TimeoutError("distribution did not finish")
            connection.sleep(0.025)
    finally:
        connection.close()


def distribution_rate(
    url: str, engine: Engine, queue: str, count: int, distributors: int, log_dir: Path
) -> tuple[float, list[float]]:
    """Due rows to messages confirmed in the queue, no processor running: rows/s from the
    due instant to the moment the queue holds them all, and each distributor's CPU seconds."""
    env = {"HEADWAY_DATABASE_URL": url, "HEADWAY_BROKER_URL": AMQP_URL, "HEADWAY_QUEUE": queue}
    processes = start_ready(
        [(["distributor"], f"dist-{distributors}-{i}") for i in range(distributors)], env, log_dir
    )
    try:
        due = due_rows_after_ready(engine, count)
        done = wait_for_queue_depth(queue, count, timeout_s=120)
    finally:
        cpu = stop(processes)
    RabbitMQBroker(AMQP_URL, queue).delete_queues()
    return count / (done - due).total_seconds(), cpu


def end_to_end(
    url: str,
    engine: Engine,
    queue: str,
    count: int,
    distributors: int,
    processors: int,
    log_dir: Path,
    prefetch: int = 400,
) -> tuple[float, float, float, list[float]]:
    """tasks/s from the due instant to the last success, p50/p99 start lag in ms, and the
    CPU seconds of each processor, then each distributor."""
    env = {"HEADWAY_DATABASE_URL": url, "HEADWAY_BROKER_URL": AMQP_URL, "HEADWAY_QUEUE": queue}
    processor = ["processor", "--concurrency", "16", "--prefetch", str(prefetch)]
    processes = start_ready(
        [(processor, f"proc-{i}") for i in range(processors)]
        + [(["distributor"], f"e2e-dist-{i}") for i in range(distributors)],
        env,
        log_dir,
    )
    try:
        due = due_rows_after_ready(engine, count)
        wait_until_succeeded(engine, count, 300)
    finally:
        cpu = stop(processes)
    with engine.connect() as connection:
        last = connection.execute(select(func.max(task_schedule.c.finished_at))).scalar_one()
        p50, p99 = connection.execute(
            text(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY start_lag_ms), "
                "percentile_cont(0.99) WITHIN GROUP (ORDER BY start_lag_ms) FROM task_schedule"
            )
        ).one()
    RabbitMQBroker(AMQP_URL, queue).delete_queues()
    return count / (last - due).total_seconds(), float(p50), float(p99), cpu


def spread_start_lag(
    url: str, engine: Engine, queue: str, log_dir: Path, count: int = 30
) -> tuple[int, int, int]:
    """Start lag of `count` tasks due 137 ms apart (one distributor, one processor with its
    defaults): min, median and max in ms."""
    env = {"HEADWAY_DATABASE_URL": url, "HEADWAY_BROKER_URL": AMQP_URL, "HEADWAY_QUEUE": queue}
    processes = start_ready([(["processor"], "spread-p"), (["distributor"], "spread-d")], env, log_dir)
    try:
        due_rows_after_ready(engine, count, spacing=timedelta(milliseconds=137))
        wait_until_succeeded(engine, count, 60)
    finally:
        stop(processes)
    RabbitMQBroker(AMQP_URL, queue).delete_queues()
    with engine.connect() as connection:
        low, median, high = connection.execute(
            text(
                "SELECT min(start_lag_ms), percentile_disc(0.5) WITHIN GROUP (ORDER BY start_lag_ms), "
                "max(start_lag_ms) FROM task_schedule"
            )
        ).one()
    return int(low), int(median), int(high)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--processors", type=int, default=2)
    parser.add_argument("--distributors", type=int, default=2, help="distributors in the end-to-end run")
    parser.add_argument(
        "--prefetch", type=int, default=400, help="processors' --prefetch (per slot) in the end-to-end run"
    )
    args = parser.parse_args()
    base = f"headway-bench-{uuid.uuid4().hex[:8]}"
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / base
    log_dir.mkdir(parents=True)
    print(f"{args.tasks} tasks, {os.cpu_count()} cores; process logs in {log_dir}")

    publish = raw_publish_rate(f"{base}-raw", args.tasks)
    consume = raw_consume_rate(f"{base}-raw", args.tasks)
    print(f"raw pika publish, quorum queue, async confirms, 1000 in flight: {publish:8.0f} msg/s")
    print(f"raw pika consume, prefetch 100, ack each: {consume:8.0f} msg/s")
    pipeline = broker_pipeline_rate(f"{base}-pipe", args.tasks)
    print(
        f"broker alone, 2 raw publishers + 2 raw consumers at once: {pipeline:8.0f} msg/s "
        f"({pipeline / publish:.2f} of raw publish)"
    )
    with bench_database() as (url, engine):
        one, cpu_one = distribution_rate(url, engine, f"{base}-d1", args.tasks, 1, log_dir)
        two, cpu_two = distribution_rate(url, engine, f"{base}-d2", args.tasks, 2, log_dir)
        print(f"distribution, 1 distributor:  {one:8.0f} rows/s (CPU s: {_seconds(cpu_one)})")
        print(
            f"distribution, 2 distributors: {two:8.0f} rows/s ({two / one:.2f}x; CPU s: {_seconds(cpu_two)})"
        )
        rate, p50, p99, cpu = end_to_end(
            url, engine, f"{base}-e2e", args.tasks, args.distributors, args.processors, log_dir, args.prefetch
        )
    print(
        f"end to end, {args.distributors} distributors + {args.processors} processors "
        f"(--concurrency 16 --prefetch {args.prefetch}, no-op handler): "
        f"{rate:8.0f} tasks/s ({rate / publish:.2f} of raw publish, "
        f"{rate / pipeline:.2f} of the broker alone; "
        f"CPU s: processors {_seconds(cpu[: args.processors])}, "
        f"distributors {_seconds(cpu[args.processors :])})"
    )
    print(f"start lag: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    with bench_database() as (url, engine):
        low, median, high = spread_start_lag(url, engine, f"{base}-spread", log_dir)
    print(f"start lag of 30 tasks due 137 ms apart: min {low} ms, median {median} ms, max {high} ms")


def _seconds(values: list[float]) -> str:
    return " ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
