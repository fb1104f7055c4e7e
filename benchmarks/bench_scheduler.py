"""Scheduler pass on PostgreSQL: 100,000 cron tasks, 3-hour horizon.

Prints the pass's rows/s beside a reference measured in the same run on the same database:
`COPY` of the very same rows into a temporary table plus `INSERT ... SELECT ... ON CONFLICT
DO NOTHING` into `task_schedule`. Goal: the pass reaches at least half the reference rate.

    .venv/bin/python benchmarks/bench_scheduler.py [--tasks 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, func, select, text  # noqa: E402

from benchmarks.common import fresh_postgres, stopwatch  # noqa: E402
from engine.adapters.tables import task_schedule  # noqa: E402
from engine.processes.scheduler import run_pass  # noqa: E402

# A fleet as fleets are: few distinct expressions, frequencies from every minute to daily.
FLEET_MIX = [
    ("* * * * *", "UTC", 0.03),
    ("*/5 * * * *", "UTC", 0.10),
    ("*/15 * * * *", "Europe/Berlin", 0.17),
    ("0 * * * *", "UTC", 0.20),
    ("30 * * * *", "America/New_York", 0.10),
    ("0 */2 * * *", "UTC", 0.10),
    ("0 9 * * mon-fri", "Europe/London", 0.10),
    ("15 2 * * *", "UTC", 0.10),
    ("0 0 * * *", "Asia/Tokyo", 0.10),
]


def seed_tasks(engine: Engine, task_count: int, now: datetime) -> None:
    rng = random.Random(42)
    expressions = [(expr, zone) for expr, zone, _ in FLEET_MIX]
    weights = [weight for _, _, weight in FLEET_MIX]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(  # type: ignore[attr-defined]
            "COPY tasks (name, task_type, kind, cron_expression, timezone, payload, active, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for index in range(task_count):
                expression, zone = rng.choices(expressions, weights)[0]
                copy.write_row((f"task {index}", "http", "cron", expression, zone, "{}", True, now, now))
        raw.commit()
    finally:
        raw.close()


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(task_schedule)).scalar_one())


def reset(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE task_schedule, task_runs RESTART IDENTITY"))
        connection.execute(text("UPDATE tasks SET materialized_until = NULL"))


def reference_copy_insert(engine: Engine, rows: list[tuple[int, datetime]]) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with stopwatch() as elapsed:
            cursor.execute(
                "CREATE TEMP TABLE incoming (task_id BIGINT, scheduled_time TIMESTAMPTZ) ON COMMIT DROP"
            )
            with cursor.copy("COPY incoming (task_id, scheduled_time) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            # With the task's type, as the pass writes it (0013): the fill-in trigger is not
            # what is measured.
            cursor.execute(
                "INSERT INTO task_schedule (task_id, task_type, scheduled_time) "
                "SELECT i.task_id, t.task_type, i.scheduled_time FROM incoming i "
                "JOIN tasks t ON t.id = i.task_id "
                "ON CONFLICT (task_id, scheduled_time) DO NOTHING"
            )
            raw.commit()
        return elapsed[0]
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with fresh_postgres() as engine:
        seed_tasks(engine, args.tasks, now - timedelta(minutes=1))
        with engine.begin() as connection:
            connection.execute(text("ANALYZE tasks"))
        pass_times, reference_times, rows = [], [], 0
        for _ in range(args.repeat):
            reset(engine)
            with stopwatch() as elapsed:
                result = run_pass(engine, now, forecast_hours=3, window_hours=3)
            pass_times.append(elapsed[0])
            rows = count_rows(engine)
            assert rows == result.rows_inserted, (rows, result.rows_inserted)
            with engine.connect() as connection:
                all_rows = [
                    (int(r.task_id), r.scheduled_time)
                    for r in connection.execute(
                        select(task_schedule.c.task_id, task_schedule.c.scheduled_time)
                    )
                ]
            reset(engine)
            reference_times.append(reference_copy_insert(engine, all_rows))
            assert count_rows(engine) == rows
        best_pass, best_reference = min(pass_times), min(reference_times)
        print(f"tasks: {args.tasks:,}  rows for a 3-hour horizon: {rows:,}")
        print(
            f"scheduler pass:           {best_pass:7.2f} s  {rows / best_pass:12,.0f} rows/s "
            f"(runs: {', '.join(f'{t:.2f}' for t in pass_times)} s)"
        )
        print(
            f"COPY + INSERT ON CONFLICT: {best_reference:7.2f} s  {rows / best_reference:12,.0f} rows/s "
            f"(runs: {', '.join(f'{t:.2f}' for t in reference_times)} s)"
        )
        ratio = best_reference / best_pass
        print(
            f"pass rate / reference rate: {ratio:.2f} (goal >= 0.50) -> "
            f"{'met' if ratio >= 0.5 else 'NOT met'}"
        )
        print(f"median pass {statistics.median(pass_times):.2f} s")


if __name__ == "__main__":
    main()
