"""The forecast on both dialects with a `queue` task, an ordering key and a chain of `after`
tasks: their runs land where they are expected to start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from engine.adapters.tables import forecast_snapshots, task_types
from engine.processes.scheduler import run_pass
from engine.services.forecast import forecast
from engine.services.forecast_accuracy import take_snapshots
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from tests.integration.helpers import add_cron_task

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CREATED = T0 - timedelta(seconds=1)


def add_type(engine: Engine, name: str, expected_duration_ms: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name=name,
                handler="noop",
                expected_duration_ms=expected_duration_ms,
                timeout_ms=600_000,
                max_attempts=1,
                config={},
            )
        )


def counts(engine: Engine, minutes: int) -> list[int]:
    return [m.task_count for m in forecast(engine, T0, hours=minutes / 60)]


def test_a_queue_tasks_runs_start_one_after_the_other(db_engine: Engine) -> None:
    add_type(db_engine, "slow", 150_000)
    add_cron_task(db_engine, CREATED, "* * * * *", task_type="slow", overlap_policy="queue")
    run_pass(db_engine, CREATED, forecast_hours=0.25)
    # Runs of 2.5 minutes fired every minute: expected starts 0, 2.5, 5, 7.5 (minute 7).
    assert counts(db_engine, 10) == [1, 0, 1, 0, 0, 1, 0, 1, 0, 0]


def test_an_ordering_keys_tasks_serialise_together(db_engine: Engine) -> None:
    add_type(db_engine, "minute", 60_000)
    for name in ("a", "b"):
        add_cron_task(db_engine, CREATED, "*/4 * * * *", task_type="minute", name=name, ordering_key="k")
    run_pass(db_engine, CREATED, forecast_hours=0.25)
    # Both fire at 0, 4 and 8; one after the other: 0 and 1, 4 and 5, 8 and 9.
    assert counts(db_engine, 10) == [1, 1, 0, 0, 1, 1, 0, 0, 1, 1]


def test_a_keyed_skip_task_leaves_out_the_fire_times_its_pending_run_would_skip(db_engine: Engine) -> None:
    add_type(db_engine, "minute", 60_000)
    add_type(db_engine, "two", 120_000)
    skip = {"overlap_policy": "skip", "ordering_key": "k"}
    add_cron_task(db_engine, CREATED, "* * * * *", task_type="minute", name="sync", **skip)
    add_cron_task(db_engine, CREATED, "*/5 * * * *", task_type="two", name="report", ordering_key="k")
    run_pass(db_engine, CREATED, forecast_hours=0.25)
    # sync 0-1, report 1-3, sync's 1 waits until 3 (its 2 and 3 skipped), its 4 at 4; then sync
    # 5-6, report 6-8, sync's 6 waits until 8 (7 and 8 skipped), its 9 at 9.
    assert counts(db_engine, 10) == [1, 1, 0, 1, 1, 1, 1, 0, 1, 1]


def test_a_chain_of_after_tasks_adds_its_runs_after_the_upstreams_expected_end(db_engine: Engine) -> None:
    add_type(db_engine, "two", 120_000)
    add_type(db_engine, "one", 60_000)
    upstream = add_cron_task(db_engine, CREATED, "*/5 * * * *", task_type="two", name="extract")

    def after(name: str, task_type: str, upstream_id: int) -> int:
        spec = {"name": name, "task_type": task_type, "kind": "after", "after": {"task_id": upstream_id}}
        return create_task(db_engine, TaskInput.model_validate(spec), CREATED).id

    load = after("load", "one", upstream.id)
    after("report", "one", load)
    run_pass(db_engine, CREATED, forecast_hours=0.25)
    # extract at 0 and 5 (2 minutes), load 2 minutes later (1 minute), report 1 minute after it.
    assert counts(db_engine, 10) == [1, 0, 1, 1, 0, 1, 0, 1, 1, 0]


def test_forecast_snapshots_record_the_queued_runs_where_the_forecast_shows_them(db_engine: Engine) -> None:
    add_type(db_engine, "slow", 150_000)
    add_cron_task(db_engine, CREATED, "* * * * *", task_type="slow", overlap_policy="queue")
    run_pass(db_engine, CREATED, forecast_hours=0.25)
    take_snapshots(db_engine, T0, leads=[1, 2, 3])
    with db_engine.connect() as connection:
        found = dict(
            connection.execute(select(forecast_snapshots.c.minute, forecast_snapshots.c.task_count)).all()
        )
    # As the forecast: runs expected at 0, 2.5, 5, ...: none at 12:01 and 12:03, one at 12:02.
    assert [found.get(T0 + timedelta(minutes=m), 0) for m in (1, 2, 3)] == counts(db_engine, 4)[1:]
    assert counts(db_engine, 4)[1:] == [0, 1, 0]
