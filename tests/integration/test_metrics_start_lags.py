"""The start-lag histogram of /metrics, counted per lag value by the database, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from engine.adapters.tables import task_schedule
from engine.processes.scheduler import run_pass
from engine.services.metrics_snapshot import START_LAG_BUCKETS_S, collect_metrics
from tests.integration.helpers import add_tasks

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_recorded_and_unrecorded_lags_fill_the_same_histogram(db_engine: Engine) -> None:
    add_tasks(db_engine, 6, NOW - timedelta(minutes=30), {})
    run_pass(db_engine, NOW - timedelta(minutes=30))
    with db_engine.connect() as connection:
        query = select(task_schedule.c.id, task_schedule.c.scheduled_time).order_by(task_schedule.c.id)
        rows = connection.execute(query).all()
    # Three runs recorded 200 ms late (one group of the count), one 3 s late, one without
    # start_lag_ms that started 0.4 s after its time, and one that started before the hour.
    lags = [(200, 0.2), (200, 0.2), (200, 0.2), (3_000, 3.0), (None, 0.4), (100, 0.1)]
    with db_engine.begin() as connection:
        for (row_id, scheduled), (lag_ms, lag_s) in zip(rows, lags, strict=True):
            started = NOW - timedelta(minutes=10) + timedelta(seconds=lag_s)
            if lag_ms == 100:
                started = NOW - timedelta(hours=2)
            connection.execute(
                update(task_schedule)
                .where(task_schedule.c.id == row_id, task_schedule.c.scheduled_time == scheduled)
                .values(status="Succeeded", started_at=started, start_lag_ms=lag_ms)
            )
            # The unrecorded run's lag comes from its times: move its schedule to match.
            if lag_ms is None:
                connection.execute(
                    update(task_schedule)
                    .where(task_schedule.c.id == row_id)
                    .values(scheduled_time=NOW - timedelta(minutes=10))
                )

    snapshot = collect_metrics(db_engine, NOW)

    buckets = dict(snapshot.start_lag_buckets)
    assert list(buckets) == [*START_LAG_BUCKETS_S, float("inf")]
    assert (buckets[0.1], buckets[0.25], buckets[0.5], buckets[2.5], buckets[5.0], buckets[float("inf")]) == (
        0,
        3,
        4,
        4,
        5,
        5,
    )
    assert snapshot.start_lag_sum_s == pytest.approx(0.6 + 3.0 + 0.4)

