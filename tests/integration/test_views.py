"""The database views compute what the pure core computes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, select

from engine.adapters.database import store_scaling_parameters
from engine.adapters.tables import (
    average_elapsed_time_per_task_type,
    metadata,
    scheduled_tasks_summary,
)
from engine.core.durations import average_elapsed_ms
from engine.core.forecast import MINUTE, ceil_minute, floor_minute
from engine.core.scaling import required_instances
from engine.processes.scheduler import run_pass
from engine.services.forecast import forecast
from engine.services.metrics_snapshot import collect_metrics
from engine.services.summaries import MinuteSummary, scheduled_summary
from tests.integration.helpers import add_cron_task, database_now, record_run, seed_random_schedule

pytestmark = pytest.mark.integration

# Views read the real clock ("the past year"), so the data sits around the real now.
NOW = datetime.now(UTC).replace(microsecond=0)


def test_average_view_matches_pure_average_over_the_past_year(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    rng = random.Random(7)
    recorded: dict[str, list[int]] = {"http": [], "reminder": []}
    for task_type, values in recorded.items():
        for _ in range(25):
            elapsed = rng.randint(1, 20_000)
            values.append(elapsed)
            record_run(db_engine, task_type, now - timedelta(days=rng.randint(0, 300)), elapsed)
    record_run(db_engine, "http", now - timedelta(days=400), 1_000_000)  # older than a year
    record_run(db_engine, "reminder", now - timedelta(hours=1), 1)
    record_run(db_engine, "reminder", now - timedelta(hours=1), 2)
    recorded["reminder"] += [1, 2]
    with db_engine.connect() as connection:
        rows = {r.task_type: r for r in connection.execute(select(average_elapsed_time_per_task_type))}
    for task_type, values in recorded.items():
        assert rows[task_type].avg_elapsed_ms == average_elapsed_ms(values)
        assert rows[task_type].run_count == len(values)
    assert "notification" not in rows


@pytest.mark.parametrize(("capacity_ms", "buffer"), [(10_000, 0.10), (12_000, 0.25)])
def test_summary_view_matches_forecast_and_formula(
    db_engine: Engine, capacity_ms: int, buffer: float
) -> None:
    with db_engine.begin() as connection:
        store_scaling_parameters(connection, capacity_ms, buffer)
    record_run(db_engine, "http", NOW - timedelta(days=1), 4_000)
    record_run(db_engine, "http", NOW - timedelta(days=2), 5_001)  # average 4,501 (half up)
    for index in range(7):
        add_cron_task(db_engine, NOW, "* * * * *", name=f"minutely {index}")
    for index in range(3):
        add_cron_task(db_engine, NOW, "*/5 * * * *", task_type="reminder", name=f"five {index}")
    run_pass(db_engine, NOW, window_hours=3)

    series = forecast(db_engine, NOW, 3, capacity_ms, buffer)
    with db_engine.connect() as connection:
        view = {
            row.scheduled_time: row
            for row in connection.execute(
                select(scheduled_tasks_summary).where(
                    scheduled_tasks_summary.c.scheduled_time >= series[0].minute,
                    scheduled_tasks_summary.c.scheduled_time <= series[-1].minute,
                )
            )
        }
    busy = [minute for minute in series if minute.task_count]
    assert len(busy) == len(view) >= 170
    for minute in busy:
        row = view[minute.minute]
        assert (row.task_count, row.total_compute_ms, row.required_instances) == (
            minute.task_count,
            minute.total_compute_ms,
            minute.required_instances,
        )
        assert row.required_instances == required_instances(row.total_compute_ms, capacity_ms, buffer)
    five_minute_marks = [m for m in busy if m.minute.minute % 5 == 0]
    assert five_minute_marks[0].total_compute_ms == 7 * 4_501 + 3 * 500


@pytest.mark.parametrize(
    ("seed", "hours", "capacity_ms", "buffer"),
    [(11, 3, 10_000, 0.10), (12, 0.51, 1_000, 0.0), (13, 26.5, 12_000, 0.25), (14, 0.01, 2_500, 0.333)],
)
def test_summary_service_reads_the_views_rows_of_its_window(
    db_engine: Engine, seed: int, hours: float, capacity_ms: int, buffer: float
) -> None:
    """The service reads the view's query restricted to the window's rows; this is the view
    filtered after its aggregation, as the service read it before, row for row."""
    rng = random.Random(seed)
    now = NOW.replace(second=41, microsecond=5)
    start = floor_minute(now)
    end = start + timedelta(hours=hours)  # the view's minutes before this, a part minute included
    last_instant = ceil_minute(end) - timedelta(microseconds=1)
    edges = [start - timedelta(microseconds=1), start, end, last_instant, ceil_minute(end)]
    seed_random_schedule(db_engine, rng, start - timedelta(hours=1), int(hours * 60) + 120, edges)
    with db_engine.begin() as connection:
        store_scaling_parameters(connection, capacity_ms, buffer)
    view = scheduled_tasks_summary
    with db_engine.connect() as connection:
        expected = [
            MinuteSummary(*row)
            for row in connection.execute(
                select(view)
                .where(view.c.scheduled_time >= start, view.c.scheduled_time < end)
                .order_by(view.c.scheduled_time)
            )
        ]

    assert scheduled_summary(db_engine, now, hours) == expected
    assert expected[0].scheduled_time == start and expected[-1].scheduled_time == ceil_minute(end) - MINUTE
    assert collect_metrics(db_engine, now).required_instances == expected[0].required_instances


def test_migrated_schema_matches_the_query_metadata(db_engine: Engine) -> None:
    inspector = inspect(db_engine)
    for table in metadata.sorted_tables:
        database_columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert database_columns == set(table.columns.keys()), table.name
    views = set(inspector.get_view_names())
    assert {"average_elapsed_time_per_task_type", "scheduled_tasks_summary"} <= views
