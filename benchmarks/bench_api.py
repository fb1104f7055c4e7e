"""REST API latency and throughput on PostgreSQL: `GET /tasks` (a filtered page of 50 out of
100,000 tasks) and `POST /tasks`, against a real `headway api` process.

    .venv/bin/python benchmarks/bench_api.py [--tasks 100000] [--requests 2000] [--concurrency 4]

Creates a fresh database on the server of HEADWAY_BENCH_PG_URL (default: the tests' server,
postgresql://postgres@127.0.0.1:5432), seeds it in one server-side statement per table, runs
`headway api` (one uvicorn process, no access log) and drives it with `concurrency` threads
of keep-alive httpx clients. The client runs on the same machine and shares its cores.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, text

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade

ADMIN_URL = os.environ.get(
    "HEADWAY_BENCH_PG_URL",
    os.environ.get("HEADWAY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)
LIST_QUERY = {"limit": 50, "task_type": "http", "kind": "cron", "active": "true", "q": "report"}

SEED_TASKS = """
INSERT INTO tasks (name, task_type, kind, cron_expression, timezone, run_at, payload, active,
                   created_at, updated_at)
SELECT 'task ' || g || ' ' || (ARRAY['report', 'sync', 'cleanup', 'mail', 'backup'])[1 + g % 5],
       (ARRAY['http', 'notification', 'reminder'])[1 + g % 3],
       (ARRAY['cron', 'once', 'immediate'])[1 + (g / 3) % 3],
       CASE WHEN (g / 3) % 3 = 0 THEN '*/15 * * * *' END,
       CASE WHEN (g / 3) % 3 = 0 THEN 'UTC' END,
       CASE WHEN (g / 3) % 3 = 1 THEN now() + interval '1 day' END,
       jsonb_build_object('url', 'https://example.org/' || g),
       g % 10 <> 0, now(), now()
FROM generate_series(1, :count) AS g
"""
# Every active task has a pending row (its next run) and three in four a finished row (its
# last outcome), so each listed item costs what it costs in production.
SEED_SCHEDULE = """
INSERT INTO task_schedule (task_id, scheduled_time, status, attempt, started_at, finished_at)
SELECT id, now() + (id % 180) * interval '1 minute', 'Scheduled', 0, NULL, NULL
FROM tasks WHERE active
UNION ALL
SELECT id, now() - interval '1 hour', 'Succeeded', 1, now() - interval '1 hour',
       now() - interval '59 minutes'
FROM tasks WHERE id % 4 <> 0
"""


@dataclass(frozen=True)
class Result:
    name: str
    latencies_s: list[float]
    wall_s: float
    statuses: set[int]

    def row(self) -> str:
        ordered = sorted(self.latencies_s)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = len(ordered) / self.wall_s
        statuses = ",".join(map(str, sorted(self.statuses)))
        return f"{self.name:<44} {len(ordered):>8} {p50:>8.1f} {p99:>8.1f} {rate:>8.0f}  {statuses}"


@contextmanager
def fresh_database(task_count: int) -> Iterator[str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"headway_bench_{uuid.uuid4().hex[:10]}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = create_db_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text(SEED_TASKS), {"count": task_count})
            connection.execute(text(SEED_SCHEDULE))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        print(f"seeded {task_count:,} tasks in {time.perf_counter() - started:.1f} s ({name})")
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def api_process(database_url: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, HEADWAY_DATABASE_URL=database_url, HEADWAY_API_PORT=str(port))
    env.pop("HEADWAY_API_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "api", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"headway api did not start: {process.stderr and process.stderr.read()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def drive(
    name: str, base: str, requests: int, concurrency: int, send: Callable[[httpx.Client, int], httpx.Response]
) -> Result:
    """`requests` calls of `send`, spread over `concurrency` threads, each with its own client."""
    latencies: list[float] = []
    statuses: set[int] = set()
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(5):  # warm the connection and the server's code paths
                send(client, -1)
            barrier.wait()
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                started = time.perf_counter()
                response = send(client, index)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses.add(response.status_code)

    barrier = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return Result(name, latencies, time.perf_counter() - started, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    def list_page(client: httpx.Client, _index: int) -> httpx.Response:
        return client.get("/tasks", params=LIST_QUERY)

    def list_unfiltered(client: httpx.Client, _index: int) -> httpx.Response:
        return client.get("/tasks", params={"limit": 50})

    def create(client: httpx.Client, index: int) -> httpx.Response:
        body = {
            "name": f"bench {index}",
            "task_type": "http",
            "kind": "cron",
            "cron_expression": "*/5 9-17 * * mon-fri",
            "timezone": "Europe/Berlin",
            "payload": {"url": f"https://example.org/{index}", "method": "POST"},
        }
        return client.post("/tasks", json=body)

    with fresh_database(args.tasks) as url, api_process(url) as base:
        total = httpx.get(f"{base}/tasks", params=LIST_QUERY).json()["total"]
        print(f"GET /tasks?{'&'.join(f'{k}={v}' for k, v in LIST_QUERY.items())} matches {total:,} tasks")
        threads = f"{args.concurrency} client thread{'s' if args.concurrency != 1 else ''}"
        print(f"{threads}, {os.cpu_count()} CPUs on this machine, shared with the server and PostgreSQL\n")
        print(f"{'scenario':<44} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  statuses")
        scenarios = [
            ("GET /tasks (filtered page of 50)", list_page),
            ("GET /tasks?limit=50 (no filter)", list_unfiltered),
            ("POST /tasks (cron task)", create),
        ]
        for name, send in scenarios:
            print(drive(name, base, args.requests, args.concurrency, send).row(), flush=True)


if __name__ == "__main__":
    main()
