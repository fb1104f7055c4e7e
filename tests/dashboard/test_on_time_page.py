"""On time page: the verdict, the headline figures and the waiting rows, at a fixed clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert

from engine.adapters.tables import task_schedule
from tests.dashboard.conftest import NOW, OpenDashboard, texts
from tests.dashboard.test_capacity_and_metrics_pages import metric
from tests.integration.helpers import add_cron_task


def add_rows(engine: Engine, task_id: int, rows: list[dict[str, object]]) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(task_schedule),
            [
                {"task_id": task_id, "attempt": 1, "status": "Succeeded", "start_lag_ms": None} | r
                for r in rows
            ],
        )


def test_runs_waiting_past_the_target_turn_the_page_red(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    task = add_cron_task(db_engine, NOW, "0 0 1 1 *", name="late-one")
    minute = NOW.replace(second=0) - timedelta(minutes=30)
    add_rows(
        db_engine,
        task.id,
        [{"scheduled_time": minute + timedelta(seconds=s), "start_lag_ms": 300} for s in range(3)]
        + [{"scheduled_time": minute + timedelta(seconds=9), "start_lag_ms": 25_000}]
        + [{"scheduled_time": NOW - timedelta(minutes=2), "status": "Queued"}],
    )

    app = open_dashboard(db_url, "on_time")

    [error] = texts(app, "error")
    assert "Late now" in error and "1 runs due more than 10 s ago have not started" in error
    assert metric(app, "Started on time") == ("75.0%", None)
    assert metric(app, "Late and waiting now") == ("1", None)
    assert metric(app, "Oldest waiting") == ("2 min", None)
    waiting = app.dataframe[0].value
    assert list(waiting["task type"]) == ["http"]
    assert list(waiting["waiting for"]) == ["2 min"]


def test_runs_that_all_started_in_time_are_green(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    task = add_cron_task(db_engine, NOW, "0 0 1 1 *")
    add_rows(db_engine, task.id, [{"scheduled_time": NOW - timedelta(minutes=1), "start_lag_ms": 800}])

    app = open_dashboard(db_url)  # the first page an operator sees

    assert not app.error
    assert any("On time" in text for text in texts(app, "success"))
    assert metric(app, "Started on time") == ("100.0%", None)
    assert any("No run is due and waiting" in text for text in texts(app, "caption"))
