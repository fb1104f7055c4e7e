"""`GET /scaling/processors` latency on PostgreSQL at 100,000 tasks (goal: under 50 ms), and
`GET /metrics`, which computes the same figure, against a real `headway api` process.

    .venv/bin/python benchmarks/scaling_endpoint.py [--tasks 100000] [--requests 500] [--concurrency 1]

Three loads of `tasks` tasks. "spread": as bench_api.py seeds them, each active task with a
pending row somewhere in the next 3 hours (about 500 a minute) and three in four with a
finished row, then vacuumed. "dense, fresh": then every active task once more within the
next 20 minutes, so the endpoint's window (5 minutes back, 15 ahead by default) holds about
80,000 rows, read just after they were inserted. "dense, vacuumed": the same rows after a
VACUUM. The endpoint reads the window's per-minute counts (schedule_minute_counts, 0017), so
the three loads should cost about the same; before 0017 it counted the rows, and the dense
window was the worst case. The client runs on the same machine and shares its cores.
"""

from __future__ import annotations

import argparse

import httpx
from sqlalchemy import create_engine, text

from benchmarks.bench_api import api_process, drive, fresh_database

SEED_DENSE = """
INSERT INTO task_schedule (task_id, scheduled_time, status, attempt)
SELECT id, now() + (id % 20) * interval '1 minute' + (id % 59) * interval '1 second', 'Scheduled', 0
FROM tasks WHERE active
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    with fresh_database(args.tasks) as url, api_process(url) as base:
        measure("spread", url, base, args.requests, args.concurrency)
        maintain(url, SEED_DENSE, "ANALYZE")
        measure("dense, fresh", url, base, args.requests, args.concurrency)
        maintain(url, None, "VACUUM ANALYZE")
        measure("dense, vacuumed", url, base, args.requests, args.concurrency)


def maintain(url: str, seed: str | None, command: str) -> None:
    """Run `seed` (if any) in a transaction, then `command` (ANALYZE or VACUUM) outside one."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if seed is not None:
        with engine.begin() as connection:
            connection.execute(text(seed))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(command))
    engine.dispose()


def measure(load: str, url: str, base: str, requests: int, concurrency: int) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        in_window = connection.execute(
            text(
                "SELECT count(*) FROM task_schedule WHERE scheduled_time >= now() - interval '5 minutes' "
                "AND scheduled_time < now() + interval '16 minutes'"
            )
        ).scalar_one()
        total = connection.execute(text("SELECT count(*) FROM task_schedule")).scalar_one()
    engine.dispose()
    answer = httpx.get(f"{base}/scaling/processors", timeout=30).json()
    print(f"\n{load}: {total:,} schedule rows, {in_window:,} in the endpoint's window")
    print(f"answer: processors {answer['processors']}, worker_slots {answer['worker_slots']}")
    print(f"{'request':<44} {'count':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  statuses")
    for name, path in [
        ("GET /scaling/processors (lead 15, cool-down 5)", "/scaling/processors"),
        ("GET /scaling/processors?lead_minutes=180", "/scaling/processors?lead_minutes=180"),
        ("GET /metrics", "/metrics"),
    ]:
        result = drive(name, base, requests, concurrency, lambda client, _i, p=path: client.get(p))
        print(result.row())


if __name__ == "__main__":
    main()
