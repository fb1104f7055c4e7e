"""Forecast snapshots taken by the Scheduler's loop, compared with what ran: store, command
and API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from engine.adapters.tables import forecast_snapshot_minutes, forecast_snapshots, task_runs, task_schedule
from engine.commands.forecast import app as forecast_app
from engine.processes.scheduler import run_forever, run_pass
from engine.services.forecast_accuracy import SnapshotStep, accuracy_report, take_snapshots
from tests.integration.conftest import Clock, make_app
from tests.integration.helpers import add_cron_task

# The minute compared: 12:00. Snapshots at 09:00 (180), 11:00 (60) and 11:50 (10).
MINUTE = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
LEADS = {lead: MINUTE - timedelta(minutes=lead) for lead in (180, 60, 10)}


def plan_and_snapshot(engine: Engine) -> list[int]:
    """Three `http` tasks every minute (expected 1,000 ms each, no history), materialised and
    snapshotted at each lead; then a fourth task created at 11:55, after two of the snapshots."""
    created = MINUTE - timedelta(hours=4)
    ids = [add_cron_task(engine, created, "* * * * *", name=f"every minute {n}").id for n in range(3)]
    for lead, at in LEADS.items():
        run_pass(engine, at)
        assert take_snapshots(engine, at, [lead]) == 1
        assert take_snapshots(engine, at, [lead]) == 0  # the first snapshot stays
    late = add_cron_task(engine, MINUTE - timedelta(minutes=5), "* * * * *", name="late").id
    run_pass(engine, MINUTE - timedelta(minutes=5))
    return [*ids, late]


def run_minute(engine: Engine, elapsed_ms: list[int]) -> None:
    """The rows due at 12:00 ran once each with these durations (the last one twice)."""
    with engine.begin() as connection:
        rows = connection.execute(
            select(task_schedule.c.id, task_schedule.c.task_id)
            .where(task_schedule.c.scheduled_time == MINUTE)
            .order_by(task_schedule.c.task_id)
        ).all()
        assert len(rows) == len(elapsed_ms)
        for (schedule_id, task_id), elapsed in zip(rows, elapsed_ms, strict=True):
            attempts = 2 if (schedule_id, task_id) == tuple(rows[-1]) else 1
            for attempt in range(1, attempts + 1):
                connection.execute(
                    insert(task_runs).values(
                        schedule_id=schedule_id,
                        scheduled_time=MINUTE,
                        task_id=task_id,
                        task_type="http",
                        attempt=attempt,
                        started_at=MINUTE + timedelta(seconds=attempt),
                        finished_at=MINUTE + timedelta(seconds=attempt + 1),
                        elapsed_ms=elapsed,
                        outcome="succeeded",
                    )
                )
        connection.execute(
            update(task_schedule).where(task_schedule.c.scheduled_time == MINUTE).values(status="Succeeded")
        )


def test_snapshots_at_each_lead_against_what_ran(db_url: str, db_engine: Engine) -> None:
    plan_and_snapshot(db_engine)
    run_minute(db_engine, [3_000, 3_000, 3_000, 4_000])  # the late task ran twice: 8,000 ms
    report = accuracy_report(db_engine, MINUTE + timedelta(minutes=3), hours=1 / 60)
    assert (report.start, report.end) == (MINUTE, MINUTE + timedelta(minutes=1))
    rows = {row.lead_minutes: row for row in report.minutes}
    assert set(rows) == {180, 60, 10}
    for row in rows.values():
        # Forecast: 3 tasks x 1,000 ms (1 instance). Ran: 4 tasks, 17,000 ms (2 instances).
        assert (row.forecast.tasks, row.forecast.compute_ms, row.forecast_instances) == (3, 3_000, 1)
        assert (row.actual.tasks, row.actual.compute_ms, row.needed_instances) == (4, 17_000, 2)
        assert (row.task_error, row.compute_error_ms, row.instance_error) == (-1, -14_000, -1)
    assert [lead.lead_minutes for lead in report.leads] == [180, 60, 10]
    assert all(lead.under_forecast_minutes == 1 for lead in report.leads)
    [late] = [task for task in report.tasks if task.name == "late"]
    assert (late.due, late.ran, late.attempts, late.compute_ms) == (1, 1, 2, 8_000)
    # An hour later nothing of that minute is in the window.
    assert accuracy_report(db_engine, MINUTE + timedelta(hours=2), hours=1).minutes == []


def test_a_minute_forecast_empty_is_kept_apart_from_one_never_snapshotted(db_engine: Engine) -> None:
    at = MINUTE - timedelta(minutes=10)
    assert take_snapshots(db_engine, at, [10]) == 1  # nothing planned yet
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(forecast_snapshots)).scalar_one() == 0
        minutes = connection.execute(select(forecast_snapshot_minutes)).all()
    assert [(row.minute, row.lead_minutes, row.taken_at) for row in minutes] == [(MINUTE, 10, at)]
    [row] = accuracy_report(db_engine, MINUTE + timedelta(minutes=3), hours=1 / 60).minutes
    assert (row.forecast.tasks, row.actual.tasks) == (0, 0)
    with pytest.raises(IntegrityError), db_engine.begin() as connection:  # a snapshot after its minute
        late = MINUTE + timedelta(seconds=1)
        connection.execute(
            insert(forecast_snapshot_minutes).values(minute=MINUTE, lead_minutes=1, taken_at=late)
        )


def test_the_scheduler_loop_takes_the_snapshots(db_url: str, db_engine: Engine) -> None:
    add_cron_task(db_engine, MINUTE - timedelta(hours=4), "* * * * *")
    stop = threading.Event()
    reads: list[datetime] = []

    def clock() -> datetime:
        reads.append(MINUTE)
        if len(reads) == 2:
            stop.set()
        return MINUTE

    run_forever(db_engine, 60, 3.0, stop=stop, clock=clock)
    with db_engine.connect() as connection:
        taken = connection.execute(
            select(forecast_snapshot_minutes.c.minute, forecast_snapshot_minutes.c.lead_minutes).order_by(
                forecast_snapshot_minutes.c.lead_minutes
            )
        ).all()
        counts = connection.execute(
            select(forecast_snapshots.c.lead_minutes, forecast_snapshots.c.task_count)
        ).all()
    assert [(minute - MINUTE, lead) for minute, lead in taken] == [
        (timedelta(minutes=10), 10),
        (timedelta(minutes=60), 60),
        (timedelta(minutes=180), 180),
    ]
    assert sorted(counts) == [(10, 1), (60, 1), (180, 1)]


def test_a_failing_snapshot_does_not_stop_the_scheduler(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.adapters.database import create_db_engine

    broken = create_db_engine(sqlite_url.replace("headway.db", "missing/headway.db"))
    step = SnapshotStep(broken)
    step(MINUTE)  # logs, does not raise
    assert "forecast snapshot failed" in caplog.text
    broken.dispose()


def test_the_command_prints_the_report(
    db_url: str, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_and_snapshot(db_engine)
    run_minute(db_engine, [3_000, 3_000, 3_000, 4_000])
    monkeypatch.setattr("engine.commands.common.utc_now", lambda: MINUTE + timedelta(minutes=3))
    runner = CliRunner()
    app = typer.Typer()
    app.add_typer(forecast_app, name="forecast")
    args = ["forecast", "accuracy", "--hours", "0.0167", "--database-url", db_url]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [lead["lead_minutes"] for lead in document["leads"]] == [180, 60, 10]
    assert document["leads"][0]["under_forecast_minutes"] == 1
    assert document["minutes"][0]["actual_compute_ms"] == 17_000
    text = runner.invoke(app, args)
    assert text.exit_code == 0 and "lead min" in text.stdout and "http" in text.stdout
    refused = runner.invoke(app, ["forecast", "accuracy", "--hours", "0", "--database-url", db_url])
    assert refused.exit_code == 2 and "--hours" in refused.stderr


def test_the_api_returns_the_report(pg_engine: Engine) -> None:
    plan_and_snapshot(pg_engine)
    run_minute(pg_engine, [3_000, 3_000, 3_000, 4_000])
    with TestClient(make_app(pg_engine, Clock(MINUTE + timedelta(minutes=3)))) as client:
        response = client.get("/forecast/accuracy", params={"hours": 0.0167})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["start"] == MINUTE.isoformat()
        needed = {row["lead_minutes"]: row["needed_instances"] for row in body["minutes"]}
        assert needed == {180: 2, 60: 2, 10: 2}
        assert client.get("/forecast/accuracy", params={"hours": 0}).status_code == 422
        assert client.get("/forecast/accuracy", params={"hours": 10_000}).status_code == 422
