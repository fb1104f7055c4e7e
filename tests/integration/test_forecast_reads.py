"""The forecast counts its window in the database: the same series as every row of the window
loaded and counted in Python, on both dialects, and an index range read."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, text

from engine.adapters.database import store_scaling_parameters
from engine.adapters.forecast_policy_store import load_serialised_runs
from engine.adapters.forecast_store import (
    load_compute_ms_by_type,
    load_scheduled_runs,
    load_skip_task_fire_times,
)
from engine.adapters.sql_queries import named_query
from engine.adapters.tables import UTCDateTime
from engine.core.forecast import MINUTE, floor_minute, forecast_minutes, forecast_window
from engine.services.forecast import forecast, stored_scaling_parameters
from engine.services.metrics import task_type_metrics
from tests.integration.helpers import index_names, seed_random_schedule

pytestmark = pytest.mark.integration

# Run history sits in the real clock's past year (the average view reads the database clock).
NOW = datetime.now(UTC).replace(second=17, microsecond=250_000)
MICROSECOND = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("seed", "hours", "capacity_ms", "buffer"),
    [(1, 3, 10_000, 0.10), (2, 0.51, 1_000, 0.0), (3, 7.25, 12_000, 0.25), (4, 1 / 60, 2_500, 0.333)],
)
def test_forecast_equals_forecast_minutes_over_the_loaded_rows(
    db_engine: Engine, seed: int, hours: float, capacity_ms: int, buffer: float
) -> None:
    rng = random.Random(seed)
    first, end = forecast_window(NOW, hours)
    minutes = int((end - first) / MINUTE)
    before = first - timedelta(hours=1)
    edges = [first - MICROSECOND, first, end - MICROSECOND, end, first + timedelta(hours=hours)]
    seed_random_schedule(db_engine, rng, before, minutes + 120, edges)
    with db_engine.begin() as connection:
        store_scaling_parameters(connection, capacity_ms, buffer)
    parameters = stored_scaling_parameters(db_engine)  # as GET /forecast passes them

    series = forecast(db_engine, NOW, hours, parameters.capacity_ms, parameters.buffer)

    with db_engine.connect() as connection:  # the row-by-row path the forecast replaced
        runs = load_scheduled_runs(connection, first, first + timedelta(hours=hours))
        compute = load_compute_ms_by_type(connection)
    assert series == forecast_minutes(runs, compute, NOW, hours, parameters.capacity_ms, parameters.buffer)
    assert len(series) == minutes and series[0].task_count > 0
    assert series[-1].task_count > 0  # the row one microsecond before the end
    if minutes > 1:
        assert any(minute.task_count == 0 for minute in series)
        assert any(floor_minute(run.scheduled_time) != run.scheduled_time for run in runs)
        assert {run.task_type for run in runs} == {"http", "notification", "reminder", "batch"}


def test_the_metrics_planned_compute_is_the_forecasts_and_a_kept_map_gives_the_same_forecast(
    db_engine: Engine,
) -> None:
    # The dashboard's Capacity page plans with the Metrics page's `planned_compute_ms`.
    seed_random_schedule(db_engine, random.Random(5), NOW - timedelta(minutes=5), 90)
    with db_engine.connect() as connection:
        compute = load_compute_ms_by_type(connection)
    assert {m.task_type: m.planned_compute_ms for m in task_type_metrics(db_engine)} == compute
    assert forecast(db_engine, NOW, 1, compute_ms_by_type=compute) == forecast(db_engine, NOW, 1)
    doubled = forecast(db_engine, NOW, 1, compute_ms_by_type={name: 2 * ms for name, ms in compute.items()})
    assert [m.total_compute_ms for m in doubled] == [
        2 * m.total_compute_ms for m in forecast(db_engine, NOW, 1)
    ]


def test_the_summary_reads_the_minute_counts_not_the_windows_rows(db_engine: Engine) -> None:
    name = "summarize_scheduled_minutes"
    dialect = db_engine.dialect.name
    explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    query = text(explain + named_query(dialect, name)).bindparams(
        bindparam("window_start", type_=UTCDateTime()), bindparam("window_end", type_=UTCDateTime())
    )
    # A day of rows around the window, so that the planner weighs real index sizes (on empty
    # partitions every index costs the same, and it may take any of them).
    seed_random_schedule(db_engine, random.Random(9), NOW - timedelta(hours=12), 24 * 60)
    with db_engine.connect() as connection:
        if dialect == "postgresql":
            connection.execute(text("ANALYZE"))
            # A full scan of a small table is as cheap as any: rule it out to see whether the
            # window can be read from the indexes at all.
            connection.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            str(row[-1])
            for row in connection.execute(
                query, {"window_start": NOW, "window_end": NOW + timedelta(hours=3)}
            )
        )
        by_time = index_names(connection, "task_schedule_by_time")
        skipped = index_names(connection, "task_schedule_skipped")
    # The window's rows are counted per minute already: no read of the time index, which
    # holds one entry per row; of task_schedule only the Skipped rows, from their index.
    # Whole names: a partition's second index on the same columns is the first's name plus "1".
    def named(indexes: set[str]) -> bool:
        return any(re.search(rf"\b{re.escape(index)}\b", plan) for index in indexes)

    assert "schedule_minute_counts" in plan, plan
    assert not named(by_time), plan
    assert named(skipped), plan


@pytest.mark.parametrize("read", [load_skip_task_fire_times, load_serialised_runs])
def test_the_policy_rows_reads_are_ranges_of_the_policy_index(pg_engine: Engine, read: Any) -> None:
    # /scaling/processors makes both on every request: where PostgreSQL could not use the
    # partial index of policy rows, each went through every task (20 ms at 100,000).
    seed_random_schedule(pg_engine, random.Random(10), NOW - timedelta(hours=12), 24 * 60)
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters))

    with pg_engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.execute(text("SET enable_seqscan = off"))  # see the test above
        event.listen(connection, "before_cursor_execute", capture)
        read(connection, NOW, NOW + timedelta(hours=3))
        event.remove(connection, "before_cursor_execute", capture)
        [(statement, parameters)] = sent
        plan = "\n".join(
            str(row[0]) for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
        policy_due = index_names(connection, "task_schedule_policy_due")
    assert any(index in plan for index in policy_due), plan
