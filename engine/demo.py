"""A demo database: a migrated SQLite file with a few hundred cron tasks and their schedule
rows, made through the same service layer and Scheduler pass as real tasks. For notebooks and
trying the dashboard without a production database."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.core.types import TaskKind
from engine.processes.scheduler import run_pass
from engine.services.metrics import list_task_type_names
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task

# (expression, share of the tasks): a steady background with hourly and half-hourly peaks.
DEMO_SCHEDULES: tuple[tuple[str, int], ...] = (
    ("*/5 * * * *", 20),
    ("*/15 * * * *", 20),
    ("0 * * * *", 25),
    ("30 * * * *", 15),
    ("0 */2 * * *", 10),
    ("*/10 * * * *", 10),
)


def build_demo_database(directory: Path, now: datetime, task_count: int = 300, seed: int = 7) -> str:
    """Create `directory/headway-demo.db` with `task_count` cron tasks created at `now`,
    materialised by one Scheduler pass, and return its URL. The same seed gives the same
    tasks."""
    path = directory / "headway-demo.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        rng = random.Random(seed)
        types = list_task_type_names(engine)
        expressions = [expression for expression, _ in DEMO_SCHEDULES]
        weights = [share for _, share in DEMO_SCHEDULES]
        for index in range(task_count):
            spec = TaskInput(
                name=f"demo-{index:03d}",
                task_type=rng.choice(types),
                kind=TaskKind.CRON,
                cron_expression=rng.choices(expressions, weights)[0],
                timezone="UTC",
            )
            create_task(engine, spec, now)
        run_pass(engine, now)
    finally:
        engine.dispose()
    return url
