"""`headway forecast` and the `scheduled_tasks_summary` view give the same numbers, on
PostgreSQL and SQLite, when both follow the configured HEADWAY_CAPACITY_MS and HEADWAY_BUFFER."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.adapters.database import create_db_engine
from engine.adapters.tables import scheduled_tasks_summary
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from tests.acceptance.test_cli import headway
from tests.integration.helpers import add_cron_task, record_run

pytestmark = [pytest.mark.acceptance, pytest.mark.integration]

CONFIG = {"HEADWAY_CAPACITY_MS": "12000", "HEADWAY_BUFFER": "0.5", "HEADWAY_FORECAST_HOURS": "2"}


def test_forecast_command_agrees_with_the_summary_view(db_url: str) -> None:
    engine = create_db_engine(db_url)
    now = datetime.now(UTC)
    record_run(engine, "http", now - timedelta(days=1), 4_000)
    record_run(engine, "http", now - timedelta(days=2), 5_001)  # average 4,501 ms
    for index in range(7):
        add_cron_task(engine, now, "* * * * *", name=f"minutely {index}")
    for index in range(3):
        add_cron_task(engine, now, "*/5 * * * *", "Europe/Berlin", task_type="reminder", name=f"five {index}")
    create_task(engine, TaskInput(name="now", task_type="notification", kind="immediate"), now)  # type: ignore[arg-type]

    headway("scheduler", "--once", database_url=db_url, env=CONFIG, check=True)
    result = headway("forecast", "--json", database_url=db_url, env=CONFIG, check=True)
    assert result.stderr == ""  # everything in the window is materialised
    series = json.loads(result.stdout)
    assert len(series) == 120  # HEADWAY_FORECAST_HOURS=2, every minute, empty ones included

    first, last = (datetime.fromisoformat(series[i]["minute"]) for i in (0, -1))
    with engine.connect() as connection:
        view = {
            row.scheduled_time: (row.task_count, row.total_compute_ms, row.required_instances)
            for row in connection.execute(
                select(scheduled_tasks_summary).where(
                    scheduled_tasks_summary.c.scheduled_time >= first,
                    scheduled_tasks_summary.c.scheduled_time <= last,
                )
            )
        }
    engine.dispose()
    busy = {
        datetime.fromisoformat(m["minute"]): (m["task_count"], m["total_compute_ms"], m["required_instances"])
        for m in series
        if m["task_count"]
    }
    assert busy == view
    assert len(busy) >= 118
    # Effective capacity 12,000 x (1 - 0.5) = 6,000 ms (the defaults would give 9,000):
    # 7 x 4,501 = 31,507 ms needs 6; with 3 x 500 more at the five-minute marks, 33,007 needs 6.
    assert (7, 31_507, 6) in busy.values() and (10, 33_007, 6) in busy.values()


def test_forecast_says_when_part_of_its_window_has_no_rows_yet(sqlite_url: str) -> None:
    headway(
        "task",
        "add",
        "--name",
        "n",
        "--type",
        "http",
        "--cron",
        "* * * * *",
        database_url=sqlite_url,
        check=True,
    )
    before = headway("forecast", "--hours", "1", database_url=sqlite_url, check=True)
    assert before.stderr.startswith("note: 1 active tasks have no schedule rows yet")

    short = ["--forecast-hours", "1", "--window-hours", "1"]
    headway("scheduler", "--once", *short, database_url=sqlite_url, check=True)
    within = headway("forecast", "--hours", "1", database_url=sqlite_url, check=True)
    assert within.stderr == ""
    beyond = headway("forecast", "--hours", "3", "--json", database_url=sqlite_url, check=True)
    assert beyond.stderr.startswith("note: cron tasks have schedule rows up to ")
    series = json.loads(beyond.stdout)  # stdout stays pure JSON
    assert all(m["task_count"] for m in series[1:60])
    assert not any(m["task_count"] for m in series[62:])
