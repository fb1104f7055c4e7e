"""`headway simulate --from-db` reads each task's misfire policy, grace, timeout and attempts
from a migrated database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from engine.adapters.tables import task_types, tasks
from simulation.cli import simulate
from simulation.from_db import load_from_database

NOW = datetime(2027, 3, 1, 8, tzinfo=UTC)

app = typer.Typer()
app.command()(simulate)


def add_sync(engine: Engine) -> None:
    """`sync`, every minute, one run at a time (`queue`), missed past 10 s, each attempt cut
    at 100 s and tried once; its type expects 90 s and has no run history."""
    with engine.begin() as connection:
        connection.execute(
            update(task_types).where(task_types.c.name == "http").values(expected_duration_ms=90_000)
        )
        connection.execute(
            insert(tasks).values(
                name="sync",
                task_type="http",
                kind="cron",
                cron_expression="* * * * *",
                timezone="UTC",
                payload={},
                active=True,
                created_at=NOW - timedelta(days=1),
                updated_at=NOW - timedelta(days=1),
                overlap_policy="queue",
                misfire_policy="skip_missed",
                misfire_grace_s=10,
                timeout_s=100,
                max_attempts=1,
            )
        )


def test_from_db_simulates_the_stored_misfire_policy(db_url: str, db_engine: Engine) -> None:
    add_sync(db_engine)
    [sync] = load_from_database(db_url, NOW).tasks
    assert (sync.misfire.value, sync.misfire_grace_s, sync.timeout_s, sync.max_attempts) == (
        "skip_missed",
        10,
        100,
        1,
    )
    result = CliRunner().invoke(
        app,
        ["--from-db", "--database-url", db_url, "--start", "2027-03-01T08:00:00Z", "--hours", "0.1",
         "--instances", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # Runs of 90 s every minute, one at a time: :00, :02 and :04 run; :01, :03 and :05 would
    # start 30 s late, past the 10 s grace, and are missed.
    assert (document["tasks"], document["skipped"]) == (3, {"overlap": 0, "coalesced": 0, "missed": 3})
