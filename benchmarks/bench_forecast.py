"""Forecast and scheduled-tasks summary on PostgreSQL: 100,000 tasks, about 1,000,000
schedule rows over 24 hours, a 3-hour window.

    .venv/bin/python benchmarks/bench_forecast.py [--tasks 100000] [--runs 20000] [--repeat 10]
                                                  [--hours 3] [--history-days 0]

Seeds a fresh database (COPY) on the server of HEADWAY_BENCH_PG_URL at the schema before the
forecast's index (0002_api), then times `forecast(engine, now, 3)` and
`scheduled_summary(engine, now, 3)` beside the approach they replace, on the same data: every
schedule row of the window loaded into Python and counted there, and the
`scheduled_tasks_summary` view filtered after its aggregation. Then it migrates to the head
revision (timed) and times all four again. Before and after must give the same answers, or
the script fails.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, func, select, text  # noqa: E402

from benchmarks.common import fresh_postgres, stopwatch  # noqa: E402
from engine.adapters.forecast_store import load_compute_ms_by_type, load_scheduled_runs  # noqa: E402
from engine.adapters.migrations import head_revision, upgrade  # noqa: E402
from engine.adapters.tables import scheduled_tasks_summary, task_schedule  # noqa: E402
from engine.core.forecast import ForecastMinute, floor_minute, forecast_minutes  # noqa: E402
from engine.services.forecast import forecast  # noqa: E402
from engine.services.summaries import MinuteSummary, scheduled_summary  # noqa: E402

T = TypeVar("T")
PREVIOUS_REVISION = "0002_api"  # the schema before the forecast's index
DAY = timedelta(days=1)

# (every how many minutes, share of the tasks); the rest are one-off tasks at any second.
# About ten rows per task and day, as in a fleet of mostly hourly-to-daily jobs.
CRON_MIX = [(5, 0.003), (15, 0.025), (60, 0.10), (120, 0.20), (360, 0.30), (1440, 0.30)]
# http and notification have a year of history; reminder and batch plan at expected duration.
TYPES = ["http", "notification", "reminder", "batch"]


def fleet(
    task_count: int, day_start: datetime, rng: random.Random
) -> Iterator[tuple[tuple[Any, ...], list[datetime]]]:
    """Per task: its `tasks` row (id, name, task_type, kind, cron_expression, timezone, run_at)
    and its fire times in [day_start, day_start + 24 h)."""
    periods = [period for period, _ in CRON_MIX] + [0]
    weights = [share for _, share in CRON_MIX] + [1 - sum(share for _, share in CRON_MIX)]
    for task_id in range(1, task_count + 1):
        period = rng.choices(periods, weights)[0]
        task_type = rng.choice(TYPES)
        if not period:
            run_at = day_start + timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(10**6))
            yield (task_id, f"task {task_id}", task_type, "once", None, None, run_at), [run_at]
            continue
        offset = rng.randrange(period)  # minutes after midnight of the first run
        if period < 60:
            expression = f"{offset}-59/{period} * * * *"
        else:
            expression = f"{offset % 60} {offset // 60}-23/{period // 60} * * *"
        times = [day_start + timedelta(minutes=m) for m in range(offset, 1440, period)]
        yield (task_id, f"task {task_id}", task_type, "cron", expression, "UTC", None), times


def seed(engine: Engine, args: argparse.Namespace, day_start: datetime, now: datetime) -> int:
    """Tasks, their schedule rows (`Succeeded` before `now`, `Scheduled` after) over the day
    from `day_start` and `args.history_days` days before it, and `args.runs` runs of `http`
    and `notification` in the past year. Returns the schedule's row count."""
    rng = random.Random(42)
    schedule: list[tuple[int, datetime, str]] = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "INSERT INTO task_types (name, handler, expected_duration_ms, timeout_ms) "
            "VALUES ('batch', 'http', 4000, 60000)"
        )
        with cursor.copy(  # type: ignore[attr-defined]
            "COPY tasks (id, name, task_type, kind, cron_expression, timezone, run_at, active, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for row, times in fleet(args.tasks, day_start, rng):
                copy.write_row((*row, True, now, now))
                schedule += [(row[0], t, "Succeeded" if t < now else "Scheduled") for t in times]
                schedule += [
                    (row[0], t - days * DAY, "Succeeded")
                    for days in range(1, args.history_days + 1)
                    for t in times
                ]
        with cursor.copy("COPY task_schedule (task_id, scheduled_time, status) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for entry in schedule:
                copy.write_row(entry)
        with cursor.copy(  # type: ignore[attr-defined]
            "COPY task_runs (task_type, attempt, started_at, finished_at, elapsed_ms, outcome) FROM STDIN"
        ) as copy:
            for _ in range(args.runs):
                started = now - timedelta(minutes=rng.randrange(1, 300 * 24 * 60))
                elapsed_ms = rng.randint(50, 9_000)
                copy.write_row((rng.choice(TYPES[:2]), 1, started, started, elapsed_ms, "succeeded"))
        cursor.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), %s)", (args.tasks,))
        raw.commit()
    finally:
        raw.close()
    # As autovacuum would have by then: statistics and the visibility map.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return len(schedule)


def timed(function: Callable[[], T], repeat: int) -> tuple[T, list[float]]:
    """The result of the last call and every call's seconds, after one warm-up call."""
    result = function()
    times = []
    for _ in range(repeat):
        with stopwatch() as elapsed:
            result = function()
        times.append(elapsed[0])
    return result, times


def forecast_in_python(engine: Engine, now: datetime, hours: float) -> list[ForecastMinute]:
    """The approach replaced: every schedule row of the window into Python."""
    start = floor_minute(now)
    with engine.connect() as connection:
        runs = load_scheduled_runs(connection, start, start + timedelta(hours=hours))
        compute = load_compute_ms_by_type(connection)
    return forecast_minutes(runs, compute, start, hours)


def summary_from_view(engine: Engine, now: datetime, hours: float) -> list[MinuteSummary]:
    """The approach replaced: the view, filtered after its aggregation."""
    start = floor_minute(now)
    view = scheduled_tasks_summary
    query = (
        select(view)
        .where(view.c.scheduled_time >= start, view.c.scheduled_time < start + timedelta(hours=hours))
        .order_by(view.c.scheduled_time)
    )
    with engine.connect() as connection:
        return [MinuteSummary(*row) for row in connection.execute(query)]


def rows_in_window(engine: Engine, start: datetime, hours: float) -> int:
    column = task_schedule.c.scheduled_time
    query = select(func.count()).where(column >= start, column < start + timedelta(hours=hours))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20_000, help="run history rows (the average view)")
    parser.add_argument(
        "--history-days", type=int, default=0, help="days of past schedule rows before the 24 h"
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--hours", type=float, default=3)
    args = parser.parse_args()
    # The views read the database's clock for "the past year", so the data sits around now.
    day_start = floor_minute(datetime.now(UTC)) - timedelta(hours=10)
    now = day_start + timedelta(hours=10, seconds=30)
    hours = args.hours
    reads: list[tuple[str, Callable[[Engine], object]]] = [
        ("forecast, before: rows into Python", partial(forecast_in_python, now=now, hours=hours)),
        ("forecast, after: counts from SQL", partial(forecast, now=now, hours=hours)),
        ("summary, before: view filtered", partial(summary_from_view, now=now, hours=hours)),
        ("summary, after: window below aggregation", partial(scheduled_summary, now=now, hours=hours)),
    ]
    schemas = [PREVIOUS_REVISION, head_revision()]
    with fresh_postgres(revision=PREVIOUS_REVISION) as engine:
        with stopwatch() as seeding:
            total = seed(engine, args, day_start, now)
        print(
            f"tasks: {args.tasks:,}  schedule rows over {24 * (1 + args.history_days)} h: {total:,}  "
            f"in the {hours:g}-hour window: {rows_in_window(engine, floor_minute(now), hours):,}  "
            f"runs: {args.runs:,}  (seeded in {seeding[0]:.1f} s)"
        )
        cells: dict[str, list[str]] = {name: [] for name, _ in reads}
        answers: dict[str, list[object]] = {"forecast": [], "summary": []}
        for schema in schemas:
            if schema != PREVIOUS_REVISION:
                with stopwatch() as migrating:
                    upgrade(engine, schema)
                print(f"migration {PREVIOUS_REVISION} -> {schema}: {migrating[0]:.2f} s")
            for name, read in reads:
                answer, times = timed(partial(read, engine), args.repeat)
                answers[name.split(",")[0]].append(answer)
                cells[name].append(f"{min(times) * 1000:8.1f} / {statistics.median(times) * 1000:6.1f}")
    print(f"\nms, min / median of {args.repeat} runs after a warm-up, at each schema")
    print(f"{'':<42}" + "".join(f"{schema:>24}" for schema in schemas))
    for name, row in cells.items():
        print(f"{name:<42}" + "".join(f"{cell:>24}" for cell in row))
    for what, results in answers.items():
        assert all(result == results[0] for result in results), f"the {what} changed"
    print("every approach at every schema gave the same forecast and the same summary")


if __name__ == "__main__":
    main()
