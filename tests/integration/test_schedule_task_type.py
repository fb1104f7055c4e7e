"""Each schedule row carries its task's type (migration 0013_schedule_task_type), on both
dialects: whoever writes the row, after an edit of the type, and for the rows of a database
migrated from 0010. The forecast's counts read the copy; a wrong copy would misplan."""

from __future__ import annotations

import random
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.adapters.tables import task_schedule, tasks
from engine.processes.scheduler import run_pass
from engine.services.tasks import edit_task, run_now
from tests.conftest import PG_ADMIN_URL, fresh_pg_database, require_server
from tests.integration.helpers import add_cron_task, add_tasks, seed_random_schedule

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def row_types(engine: Engine) -> list[tuple[int, str | None, str]]:
    """(row id, the row's task_type, its task's task_type) for every schedule row."""
    query = (
        select(task_schedule.c.id, task_schedule.c.task_type, tasks.c.task_type.label("of_task"))
        .join(tasks, tasks.c.id == task_schedule.c.task_id)
        .order_by(task_schedule.c.id)
    )
    with engine.connect() as connection:
        return [(int(row.id), row.task_type, row.of_task) for row in connection.execute(query)]


def test_every_writer_leaves_the_row_with_its_tasks_type(db_engine: Engine) -> None:
    add_cron_task(db_engine, NOW, "*/10 * * * *", task_type="notification")
    add_tasks(db_engine, 3, NOW, {}, task_type="reminder")
    once = add_tasks(db_engine, 1, NOW, {}, task_type="http", kind="once", run_at=NOW + timedelta(hours=1))
    assert run_pass(db_engine, NOW).rows_inserted > 3  # the Scheduler's two insert paths
    run_now(db_engine, once[0], NOW)
    with db_engine.begin() as connection:  # a writer that names no type
        connection.execute(
            insert(task_schedule).values(
                task_id=once[0], scheduled_time=NOW + timedelta(minutes=1), status="Scheduled", attempt=0
            )
        )
    rows = row_types(db_engine)
    assert {of_task for _, _, of_task in rows} == {"notification", "reminder", "http"}
    assert [(row_id, of_task) for row_id, _, of_task in rows] == [(row_id, copy) for row_id, copy, _ in rows]


def test_an_edited_type_moves_every_row_of_that_task_and_no_other(db_engine: Engine) -> None:
    edited = add_cron_task(db_engine, NOW, "*/5 * * * *", task_type="http")
    other = add_cron_task(db_engine, NOW, "*/5 * * * *", name="other", task_type="http")
    run_pass(db_engine, NOW)
    edit_task(db_engine, edited.id, {"task_type": "reminder"}, NOW)
    edit_task(db_engine, other.id, {"name": "renamed"}, NOW)
    with db_engine.connect() as connection:
        copies = set(connection.execute(select(task_schedule.c.task_id, task_schedule.c.task_type)))
    assert copies == {(edited.id, "reminder"), (other.id, "http")}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migration_gives_existing_rows_their_tasks_type(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stack = ExitStack()
    request.addfinalizer(stack.close)
    if dialect == "postgresql":
        require_server(PG_ADMIN_URL, 5432, "PostgreSQL")
        url = stack.enter_context(fresh_pg_database("template0"))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_db_engine(url)
    request.addfinalizer(engine.dispose)
    upgrade(engine, "0012_task_policies")
    seed_random_schedule(engine, random.Random(11), NOW, 120)
    upgrade(engine)
    rows = row_types(engine)
    assert len(rows) > 20 and len({of_task for _, _, of_task in rows}) == 4
    assert [(row_id, of_task) for row_id, _, of_task in rows] == [(row_id, copy) for row_id, copy, _ in rows]
