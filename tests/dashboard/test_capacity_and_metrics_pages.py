"""Capacity and Metrics pages on seeded schedule rows, heartbeats and runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, update

from engine.adapters.tables import processor_heartbeats, task_runs
from engine.core.types import TaskKind
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from tests.dashboard.conftest import NOW, OpenDashboard, texts
from tests.integration.helpers import add_cron_task, record_run


def add_tasks(engine: Engine, count: int, expression: str) -> None:
    for index in range(count):
        spec = TaskInput(
            name=f"{expression} #{index}", task_type="http", kind=TaskKind.CRON, cron_expression=expression
        )
        create_task(engine, spec, NOW)


def add_heartbeat(engine: Engine, processor_id: str, last_seen_at: datetime, concurrency: int = 1) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(processor_heartbeats).values(
                processor_id=processor_id,
                hostname="test",
                pid=1,
                concurrency=concurrency,
                started_at=last_seen_at - timedelta(hours=1),
                last_seen_at=last_seen_at,
            )
        )


def metric(app: object, label: str) -> tuple[str, str | None]:
    [found] = [m for m in app.metric if m.label == label]  # type: ignore[attr-defined]
    return found.value, found.delta or None


def test_capacity_page_says_when_to_scale(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    # http tasks plan at their expected 1,000 ms; one instance takes 9,000 ms per minute.
    add_tasks(db_engine, 12, "15 10 * * *")  # 12,000 ms at 10:15 -> 2 instances
    add_tasks(db_engine, 30, "0 11 * * *")  # 30,000 ms at 11:00 -> 4 instances
    add_tasks(db_engine, 5, "0 14 * * *")  # after the 3-hour window
    run_pass(db_engine, NOW)
    add_heartbeat(db_engine, "alive", NOW - timedelta(seconds=20))
    add_heartbeat(db_engine, "gone", NOW - timedelta(minutes=5))

    app = open_dashboard(db_url, "capacity")

    assert metric(app, "Worker slots now") == ("1", None)
    assert metric(app, "First shortfall") == ("10:15 UTC", "2 instances, in 15 min")
    assert metric(app, "Peak needed") == ("4 instances", "at 11:00 UTC")
    assert metric(app, "Minutes short") == ("2", None)
    assert metric(app, "Queue depth now") == ("0", None)
    [call_out] = texts(app, "error")
    # The headline names the peak of the whole window, then the first shortfall.
    assert call_out.startswith(
        "**Scale to 4 instances by 11:00 UTC (in 1 h)**, the peak of the next 180 minutes"
    )
    assert "first short at 10:15 UTC (in 15 min): 2 needed, 1 worker slots running" in call_out
    points = app.dataframe[0].value
    # A cool-down of 5 minutes by default: instances stay until 5 minutes after the need.
    assert points.to_dict("records") == [
        {"minute (UTC)": "10:00 UTC", "when": "now", "action": "scale down", "from": 1, "to": 0},
        {"minute (UTC)": "10:15 UTC", "when": "in 15 min", "action": "scale up", "from": 0, "to": 2},
        {"minute (UTC)": "10:21 UTC", "when": "in 21 min", "action": "scale down", "from": 2, "to": 0},
        {"minute (UTC)": "11:00 UTC", "when": "in 1 h", "action": "scale up", "from": 0, "to": 4},
        {"minute (UTC)": "11:06 UTC", "when": "in 1 h 6 min", "action": "scale down", "from": 4, "to": 0},
    ]


def test_capacity_parameters_change_the_answer(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    add_tasks(sqlite_engine, 12, "15 10 * * *")
    run_pass(sqlite_engine, NOW)
    add_heartbeat(sqlite_engine, "alive", NOW)
    app = open_dashboard(sqlite_url, "capacity")
    assert metric(app, "First shortfall")[0] == "10:15 UTC"
    # 12,000 ms fits one instance of 20,000 ms with 10 % kept free.
    app.number_input[1].set_value(20_000).run()
    assert metric(app, "First shortfall")[0] == "none"
    assert any("cover the next 180 minutes" in text for text in texts(app, "success"))


def test_worker_slots_add_up_processor_concurrency_and_queued_rows_are_the_queue(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    add_tasks(db_engine, 30, "0 11 * * *")  # 30,000 ms at 11:00 -> 4 instances
    for index in range(3):  # due a minute ago, not started
        add_cron_task(db_engine, NOW - timedelta(minutes=5), "59 9 * * *", name=f"late {index}")
    run_pass(db_engine, NOW - timedelta(minutes=2))
    add_heartbeat(db_engine, "four", NOW - timedelta(seconds=5), concurrency=4)
    add_heartbeat(db_engine, "one", NOW - timedelta(seconds=5), concurrency=1)

    app = open_dashboard(db_url, "capacity")

    assert metric(app, "Worker slots now") == ("5", None)
    assert metric(app, "Queue depth now") == ("3", None)
    assert metric(app, "First shortfall")[0] == "none"
    [covered] = texts(app, "success")
    assert covered == "The 5 worker slots running now cover the next 180 minutes; the peak is 4 at 11:00 UTC."


def test_metrics_page_shows_averages_counts_and_recent_runs(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    # The view averages the past year by the database's clock, so these runs use the real one.
    now = datetime.now(UTC)
    for elapsed_ms in (100, 200, 400):
        record_run(sqlite_engine, "http", now - timedelta(hours=1), elapsed_ms)
    record_run(sqlite_engine, "reminder", now - timedelta(days=3), 50)
    with sqlite_engine.begin() as connection:
        connection.execute(update(task_runs).where(task_runs.c.elapsed_ms == 400).values(outcome="timeout"))
    app = open_dashboard(sqlite_url, "metrics", now=None)
    averages = app.dataframe[0].value.set_index("task type")
    # The formula's average takes every attempt; the one over successes is shown beside it.
    assert averages.loc["http", "avg ms, all attempts (year)"] == "233"
    assert averages.loc["http", "avg ms, successes (24 h)"] == "150"
    assert (averages.loc["http", "p50 ms (24 h)"], averages.loc["http", "p95 ms (24 h)"]) == ("209", "400")
    assert averages.loc["reminder", "avg ms, successes (24 h)"] == ""  # no attempt in 24 h
    assert averages.loc["http", "runs (past year)"] == 3
    assert averages.loc["http", "forecast uses ms"] == 233
    assert averages.loc["notification", "forecast uses ms"] == 800  # expected duration, no history
    counts = app.dataframe[1].value
    assert (counts.loc["http", "succeeded"], counts.loc["http", "timeout"]) == (2, 1)
    assert "reminder" not in counts.index  # older than 24 hours
    recent = app.dataframe[2].value
    assert len(recent) == 4
    assert list(recent["type"]) == ["http", "http", "http", "reminder"]
