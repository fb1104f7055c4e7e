"""`headway demo add|remove` on both dialects: the demo comes and goes, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from engine.adapters.history_store import roll_up_runs
from engine.adapters.tables import (
    task_run_rollup_buckets,
    task_run_rollups,
    task_runs,
    task_schedule,
    task_types,
    tasks,
)
from engine.cli import app
from engine.demo import DEMO_TYPES, add_demo, demo_type_names, has_tasks, remove_demo
from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_tasks

pytestmark = pytest.mark.integration


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)))  # type: ignore[arg-type]


def test_remove_deletes_the_demo_tasks_their_rows_and_types_and_nothing_else(db_engine: Engine) -> None:
    now = datetime.now(UTC)
    add_tasks(db_engine, 2, now, {"url": "https://example.org/"})
    assert add_demo(db_engine, now, 60) == 60
    run_pass(db_engine, now)
    assert demo_type_names(db_engine) == sorted(demo_type.name for demo_type in DEMO_TYPES)
    assert _count(db_engine, tasks) == 62
    with db_engine.connect() as connection:
        demo_rows = connection.execute(
            select(
                task_schedule.c.id, task_schedule.c.task_id, task_schedule.c.scheduled_time, tasks.c.task_type
            )
            .join(tasks)
            .where(tasks.c.task_type.in_(demo_type_names(db_engine)))
            .limit(3)
        ).all()
    with db_engine.begin() as connection:
        for row in demo_rows:
            connection.execute(
                task_runs.insert().values(
                    schedule_id=row.id,
                    scheduled_time=row.scheduled_time,
                    task_id=row.task_id,
                    task_type=row.task_type,
                    attempt=1,
                    started_at=now,
                    finished_at=now,
                    elapsed_ms=5,
                    outcome="succeeded",
                )
            )
    roll_up_runs(db_engine)
    assert _count(db_engine, task_run_rollups) > 0
    removed = remove_demo(db_engine)
    assert (removed.tasks, removed.types) == (60, len(DEMO_TYPES))
    assert _count(db_engine, tasks) == 2 and has_tasks(db_engine)
    with db_engine.connect() as connection:
        left = set(connection.scalars(select(tasks.c.task_type)))
        types = set(connection.scalars(select(task_types.c.name)))
        orphans = connection.scalar(
            select(func.count())
            .select_from(task_schedule)
            .where(task_schedule.c.task_id.not_in(select(tasks.c.id)))
        )
    assert not left & set(demo_type_names(db_engine)) and demo_type_names(db_engine) == []
    assert {"reminder", "notification", "http"} <= types
    assert orphans == 0 and _count(db_engine, task_runs) == 0
    assert _count(db_engine, task_run_rollups) == 0 and _count(db_engine, task_run_rollup_buckets) == 0
    assert remove_demo(db_engine).tasks == 0  # twice is harmless


def test_the_demo_commands(db_url: str) -> None:
    env = {"HEADWAY_DATABASE_URL": db_url}
    added = CliRunner().invoke(app, ["demo", "add", "--count", "25"], env=env)
    assert added.exit_code == 0, added.output
    assert "added 25 demo tasks" in added.stdout
    again = CliRunner().invoke(app, ["demo", "add", "--count", "5"], env=env)  # types already there
    assert again.exit_code == 0, again.output
    removed = CliRunner().invoke(app, ["demo", "remove"], env=env)
    assert removed.exit_code == 0, removed.output
    assert f"removed 30 demo tasks and {len(DEMO_TYPES)} demo task types" in removed.stdout
