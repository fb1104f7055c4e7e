"""A demo history for forecast accuracy: a migrated SQLite file whose Scheduler took forecast
snapshots every minute for hours, and whose tasks then ran, not quite as planned.

Built through the engine's own Scheduler pass and snapshot step, with run times drawn by the
simulator's duration models, so `notebooks/forecast_vs_actual.ipynb` runs without a production
database. What differs from the plan, on purpose (seeded):

- `notification` runs take 1,200 ms on average where the type expects 800 ms;
- `http` runs are lognormal around their expected 1,000 ms (p95 3,000 ms) and one attempt in
  ten fails and is retried;
- a task `late-backfill` (every 2 minutes) is created in the middle of the window, after the
  longer-lead snapshots of the minutes that follow were taken.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, select, update

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.adapters.tables import task_runs, task_schedule, tasks
from engine.core.forecast import floor_minute
from engine.core.forecast_accuracy import LEADS_MINUTES
from engine.core.types import TaskKind
from engine.processes.scheduler import run_pass
from engine.services.forecast_accuracy import take_snapshots
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from simulation.durations import DurationModel, duration_model

SCHEDULES = ("* * * * *", "*/5 * * * *", "*/15 * * * *", "0 * * * *")
TRUE_DURATIONS: dict[str, DurationModel] = {
    "reminder": duration_model("fixed", mean_ms=500),
    "notification": duration_model("exponential", mean_ms=1_200),
    "http": duration_model("lognormal", mean_ms=1_000, p95_ms=3_000),
}
FAILURE_PROBABILITY = {"http": 0.1}


def build_history_database(directory: Path, end: datetime, hours: float = 2, seed: int = 11) -> str:
    """Create `directory/headway-history.db` with snapshots and runs for the `hours` before
    `end` (floored to its minute), and return its URL. The same seed gives the same history."""
    url = f"sqlite:///{directory / 'headway-history.db'}"
    engine = create_db_engine(url)
    end = floor_minute(end)
    start = end - timedelta(minutes=int(hours * 60))
    first = start - timedelta(minutes=max(LEADS_MINUTES))
    rng = random.Random(seed)
    try:
        upgrade(engine)
        for index in range(30):
            spec = TaskInput(
                name=f"task-{index:02d}",
                task_type=rng.choice(sorted(TRUE_DURATIONS)),
                kind=TaskKind.CRON,
                cron_expression=rng.choice(SCHEDULES),
            )
            create_task(engine, spec, first)
        backfill_at = start + (end - start) / 2
        minute = first
        while minute < end:
            if minute == floor_minute(backfill_at):
                late = TaskInput(
                    name="late-backfill", task_type="http", kind=TaskKind.CRON, cron_expression="*/2 * * * *"
                )
                create_task(engine, late, minute)
            run_pass(engine, minute, window_hours=4)
            take_snapshots(engine, minute)
            minute += timedelta(minutes=1)
        _record_runs(engine, start, end, np.random.default_rng(seed))
    finally:
        engine.dispose()
    return url


def _record_runs(engine: Engine, start: datetime, end: datetime, rng: np.random.Generator) -> None:
    """Every row due in [start, end) ran: an attempt per try, durations from TRUE_DURATIONS."""
    with engine.begin() as connection:
        rows = connection.execute(
            select(
                task_schedule.c.id,
                task_schedule.c.task_id,
                task_schedule.c.scheduled_time,
                tasks.c.task_type,
            )
            .join(tasks, tasks.c.id == task_schedule.c.task_id)
            .where(task_schedule.c.scheduled_time >= start, task_schedule.c.scheduled_time < end)
            .order_by(task_schedule.c.id)
        ).all()
        runs = []
        for schedule_id, task_id, due, task_type in rows:
            attempt, at = 1, due + timedelta(milliseconds=20)
            while True:
                elapsed_ms = int(TRUE_DURATIONS[task_type].sample_us(rng, 1)[0] // 1_000)
                failed = attempt < 3 and rng.random() < FAILURE_PROBABILITY.get(task_type, 0.0)
                runs.append(
                    {
                        "schedule_id": schedule_id,
                        "scheduled_time": due,
                        "task_id": task_id,
                        "task_type": task_type,
                        "attempt": attempt,
                        "started_at": at,
                        "finished_at": at + timedelta(milliseconds=elapsed_ms),
                        "elapsed_ms": elapsed_ms,
                        "outcome": "http_status" if failed else "succeeded",
                    }
                )
                if not failed:
                    break
                attempt += 1
                at += timedelta(milliseconds=elapsed_ms + 1_000)
        connection.execute(insert(task_runs), runs)
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.scheduled_time >= start, task_schedule.c.scheduled_time < end)
            .values(status="Succeeded")
        )
