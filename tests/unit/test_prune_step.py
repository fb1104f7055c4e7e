"""The Scheduler's history step: it rolls up and prunes every few minutes, from the loop,
and a failure never stops the Scheduler. Plus `headway db prune` and `headway db stats`
on an embedded SQLite database."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from engine.adapters.database import create_db_engine
from engine.adapters.forecast_accuracy_store import record_snapshot
from engine.adapters.migrations import upgrade
from engine.adapters.tables import (
    forecast_snapshot_minutes,
    forecast_snapshots,
    task_run_rollups,
    task_runs,
    task_schedule,
    tasks,
)
from engine.cli import app
from engine.core.forecast_accuracy import Work
from engine.processes.scheduler import run_forever
from engine.services import history
from engine.services.history import PruneStep

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    return engine


def _finished_row(engine: Engine, finished_at: datetime, status: str = "Succeeded") -> int:
    with engine.begin() as connection:
        task_id = connection.execute(
            insert(tasks)
            .values(name="t", task_type="http", kind="immediate", created_at=NOW, updated_at=NOW)
            .returning(tasks.c.id)
        ).scalar_one()
        schedule_id = connection.execute(
            insert(task_schedule)
            .values(
                task_id=task_id,
                scheduled_time=finished_at - timedelta(seconds=5),
                status=status,
                attempt=1,
                started_at=finished_at - timedelta(seconds=4),
                finished_at=finished_at,
                start_lag_ms=1_000,
            )
            .returning(task_schedule.c.id)
        ).scalar_one()
        connection.execute(
            insert(task_runs).values(
                schedule_id=schedule_id,
                task_id=task_id,
                task_type="http",
                attempt=1,
                started_at=finished_at - timedelta(seconds=4),
                finished_at=finished_at,
                elapsed_ms=4_000,
                outcome="succeeded" if status == "Succeeded" else "timeout",
            )
        )
    return int(schedule_id)


def _snapshot(engine: Engine, minute: datetime) -> None:
    """A forecast snapshot of `minute`, at two leads, of two task types each."""
    with engine.begin() as connection:
        for lead in (10, 60):
            work = {"http": Work(3, 3_000), "report": Work(1, 9_000)}
            record_snapshot(connection, minute, lead, minute - timedelta(minutes=lead), work)


def _snapshot_minutes(engine: Engine) -> set[datetime]:
    with engine.connect() as connection:
        minutes = set(connection.execute(select(forecast_snapshot_minutes.c.minute)).scalars())
        minutes |= set(connection.execute(select(forecast_snapshots.c.minute)).scalars())
        return minutes


def _schedule_ids(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(select(task_schedule.c.id)).scalars())


def test_the_step_prunes_at_most_once_per_interval_on_its_monotonic_clock(engine: Engine) -> None:
    ticks = [0.0]
    step = PruneStep(engine, retention_days=30, interval_s=300, monotonic=lambda: ticks[0])
    old = _finished_row(engine, NOW - timedelta(days=31))
    young = _finished_row(engine, NOW - timedelta(days=29))
    for days_ago in (33, 31, 29):  # snapshots go by the same retention, span after span
        _snapshot(engine, NOW - timedelta(days=days_ago))
    step(NOW)
    assert _schedule_ids(engine) == {young}
    assert _snapshot_minutes(engine) == {NOW - timedelta(days=29)}
    older = _finished_row(engine, NOW - timedelta(days=40))
    ticks[0] = 299.0
    step(NOW)
    assert older in _schedule_ids(engine)  # not yet: the interval has not passed
    ticks[0] = 300.0
    step(NOW + timedelta(days=2))
    assert _schedule_ids(engine) == set()
    assert old not in _schedule_ids(engine)
    with engine.connect() as connection:
        assert sum(connection.execute(select(task_run_rollups.c.run_count)).scalars()) == 3


def test_a_failing_step_is_logged_and_tried_again_next_interval(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[datetime] = []

    def broken(*args: object) -> None:
        calls.append(NOW)
        raise RuntimeError("disk full")

    monkeypatch.setattr(history, "prune_history", broken)
    ticks = [0.0]
    step = PruneStep(engine, retention_days=30, interval_s=10, monotonic=lambda: ticks[0])
    with caplog.at_level(logging.WARNING, logger="headway.history"):
        step(NOW)
        step(NOW)
        ticks[0] = 10.0
        step(NOW)
    assert len(calls) == 2
    assert "history roll-up and prune failed: RuntimeError: disk full" in caplog.text


def test_a_retention_below_one_day_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        PruneStep(engine, retention_days=0)


def test_the_scheduler_loop_runs_the_prune_step_after_each_pass(engine: Engine) -> None:
    stop = threading.Event()
    seen: list[datetime] = []

    def prune(now: datetime) -> None:
        seen.append(now)
        if len(seen) == 2:
            stop.set()

    run_forever(engine, 0.1, 3.0, stop=stop, clock=lambda: NOW, after_pass=lambda now: None, prune=prune)
    assert seen == [NOW, NOW]


def test_db_prune_says_what_it_would_remove_then_removes_it(engine: Engine, tmp_path: Path) -> None:
    now = datetime.now(UTC)  # the command reads the real clock; rows sit far from the cutoff
    old = _finished_row(engine, now - timedelta(days=10))
    young = _finished_row(engine, now - timedelta(days=1))
    _snapshot(engine, now.replace(second=0, microsecond=0) - timedelta(days=10))  # 2 minutes, 4 types
    _snapshot(engine, now.replace(second=0, microsecond=0) - timedelta(days=1))
    dead = _finished_row(engine, now - timedelta(days=100), status="Dead")
    env = {"HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "HEADWAY_RETENTION_DAYS": "5"}
    runner = CliRunner()
    result = runner.invoke(app, ["db", "prune", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("would remove 1 schedule rows and 1 runs finished before ")
    assert "(retention 5 days)" in result.stdout
    assert "would remove 6 forecast snapshot rows of minutes before " in result.stdout
    assert _schedule_ids(engine) == {old, young, dead}
    assert len(_snapshot_minutes(engine)) == 2
    stats = json.loads(runner.invoke(app, ["db", "stats", "--json"], env=env).stdout)
    assert stats["prunable"] == {"schedule_rows": 1, "run_rows": 1}
    assert stats["schedule_rows_by_status"] == {"Dead": 1, "Succeeded": 2}
    result = runner.invoke(app, ["db", "prune", "--retention-days", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("removed 1 schedule rows and 1 runs")
    assert "removed 6 forecast snapshot rows" in result.stdout
    assert _schedule_ids(engine) == {young, dead}
    assert len(_snapshot_minutes(engine)) == 1
    text = runner.invoke(app, ["db", "stats"], env=env).stdout
    assert "task_run_rollups" in text and "runs rolled up through id 3" in text


def test_db_prune_refuses_a_retention_below_a_day(tmp_path: Path) -> None:
    env = {"HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    result = CliRunner().invoke(app, ["db", "prune", "--retention-days", "0"], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --retention-days: Input should be greater than or equal to 1")
