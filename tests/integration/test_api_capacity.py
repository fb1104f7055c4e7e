"""Task types, the two views and the forecast through the API, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from engine.adapters.database import store_scaling_parameters
from engine.adapters.tables import processor_heartbeats
from engine.core.scaling import required_instances
from engine.processes.scheduler import run_pass
from tests.integration.conftest import Clock
from tests.integration.helpers import add_cron_task, database_now, record_run

pytestmark = pytest.mark.integration


def test_task_types_are_listed_with_their_limits(api: TestClient) -> None:
    types = api.get("/task-types").json()
    assert [t["name"] for t in types] == ["http", "notification", "reminder"]
    assert types[0] == {
        "name": "http",
        "description": "Sends the HTTP request described by the payload (url, method, headers, json)",
        "handler": "http",
        "expected_duration_ms": 1000,
        "timeout_ms": 30000,
        "max_attempts": 3,
        "config": {},
    }


def test_scheduled_summary_covers_the_current_minute_for_the_given_hours(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    for index in range(7):
        add_cron_task(pg_engine, clock.now - timedelta(hours=1), "* * * * *", name=f"minutely {index}")
    add_cron_task(pg_engine, clock.now - timedelta(hours=1), "*/5 * * * *", task_type="reminder")
    # Rows from an hour ago onwards: the summary must start at the current minute, 10:00.
    run_pass(pg_engine, clock.now - timedelta(hours=1), window_hours=6)

    rows = api.get("/scheduled-tasks-summary", params={"hours": 3}).json()

    assert [row["scheduled_time"] for row in rows[:2]] == ["2026-06-01T10:00:00Z", "2026-06-01T10:01:00Z"]
    assert rows[-1]["scheduled_time"] == "2026-06-01T12:59:00Z"
    assert len(rows) == 180
    # 7 http tasks at 1,000 ms + 1 reminder at 500 ms on the five-minute marks.
    assert rows[0] == {
        "scheduled_time": "2026-06-01T10:00:00Z",
        "task_count": 8,
        "total_compute_ms": 7_500,
        "required_instances": 1,
    }
    assert rows[1]["total_compute_ms"] == 7_000
    assert len(api.get("/scheduled-tasks-summary", params={"hours": 0.5}).json()) == 30
    assert len(api.get("/scheduled-tasks-summary").json()) == 180  # default 3 hours


def test_scheduled_summary_uses_the_recorded_scaling_parameters(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    with pg_engine.begin() as connection:
        store_scaling_parameters(connection, 2_000, 0.5)  # 1,000 ms per instance
    for index in range(3):
        add_cron_task(pg_engine, clock.now, "* * * * *", name=f"t{index}")
    run_pass(pg_engine, clock.now)
    row = api.get("/scheduled-tasks-summary", params={"hours": 1}).json()[0]
    assert (row["total_compute_ms"], row["required_instances"]) == (3_000, 3)


def test_task_summary_averages_the_past_year_per_type(api: TestClient, pg_engine: Engine) -> None:
    real_now = database_now(pg_engine)  # the view reads the database's clock
    for elapsed in (1_000, 2_001):
        record_run(pg_engine, "http", real_now - timedelta(days=3), elapsed)
    record_run(pg_engine, "http", real_now - timedelta(days=400), 99_999)  # older than a year
    record_run(pg_engine, "reminder", real_now - timedelta(hours=1), 250)
    assert api.get("/task-summary").json() == [
        {"task_type": "http", "avg_elapsed_ms": 1_501, "run_count": 2},  # 1,500.5 rounds half up
        {"task_type": "reminder", "avg_elapsed_ms": 250, "run_count": 1},
    ]


def test_task_summary_is_empty_without_runs(api: TestClient) -> None:
    assert api.get("/task-summary").json() == []


def test_forecast_has_every_minute_and_the_worker_slots_running_now(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    add_cron_task(pg_engine, clock.now, "*/10 * * * *")
    run_pass(pg_engine, clock.now)
    with pg_engine.begin() as connection:
        for name, seen_s_ago in (("alive", 5), ("also alive", 29), ("gone", 31)):
            connection.execute(
                insert(processor_heartbeats).values(
                    processor_id=name,
                    hostname="h",
                    pid=1,
                    concurrency=4,
                    started_at=clock.now - timedelta(hours=1),
                    last_seen_at=clock.now - timedelta(seconds=seen_s_ago),
                )
            )

    body = api.get("/forecast", params={"hours": 1}).json()

    # Two live processors of concurrency 4: 8 of the formula's instances (one task at a time each).
    assert (body["hours"], body["capacity_ms"], body["buffer"], body["current_instances"]) == (
        1,
        10_000,
        0.1,
        8,
    )
    assert body["live_processors"] == 2
    minutes = body["minutes"]
    assert len(minutes) == 60
    assert minutes[0]["minute"] == "2026-06-01T10:00:00Z"
    assert minutes[-1]["minute"] == "2026-06-01T10:59:00Z"
    busy = [m for m in minutes if m["task_count"]]
    assert [m["minute"][11:16] for m in busy] == ["10:10", "10:20", "10:30", "10:40", "10:50"]
    assert busy[0] | {"minute": ""} == {
        "minute": "",
        "task_count": 1,
        "total_compute_ms": 1_000,
        "required_instances": required_instances(1_000),
    }
    assert {m["required_instances"] for m in minutes if not m["task_count"]} == {0}
    assert len(api.get("/forecast").json()["minutes"]) == 180
