"""`headway dlq` beside `headway up`: its in-process broker keeps dead letters inside that
process, so the commands read and reset the `Dead` rows of the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from typer.testing import CliRunner

from engine.adapters.tables import task_schedule, task_types, tasks
from engine.cli import app

AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _rows(engine: Engine, *statuses: str) -> list[int]:
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="job",
                handler="noop",
                expected_duration_ms=1,
                timeout_ms=1_000,
                max_attempts=3,
                config={},
            )
        )
        task_id = connection.execute(
            insert(tasks)
            .values(
                name="t",
                task_type="job",
                kind="immediate",
                payload={},
                active=True,
                created_at=AT,
                updated_at=AT,
            )
            .returning(tasks.c.id)
        ).scalar_one()
        return [
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task_id,
                    scheduled_time=AT.replace(minute=i),
                    status=status,
                    attempt=3 if status == "Dead" else 1,
                    finished_at=AT.replace(minute=i),
                    last_error="http_status: HTTP 500" if status == "Dead" else None,
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
            for i, status in enumerate(statuses)
        ]


def _status(engine: Engine) -> dict[int, tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(select(task_schedule.c.id, task_schedule.c.status, task_schedule.c.attempt))
        return {row.id: (row.status, row.attempt) for row in rows}


def _headway(sqlite_url: str, *args: str) -> tuple[int, str, str]:
    env = {"HEADWAY_DATABASE_URL": sqlite_url, "HEADWAY_BROKER_URL": "memory://"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_dlq_list_shows_the_dead_rows(sqlite_url: str, sqlite_engine: Engine) -> None:
    dead, _, dead_too = _rows(sqlite_engine, "Dead", "Succeeded", "Dead")

    code, out, _ = _headway(sqlite_url, "dlq", "list", "--json")

    assert code == 0
    entries = [json.loads(line) for line in out.splitlines()]
    assert [(e["schedule_id"], e["attempt"], e["reason"]) for e in entries] == [
        (dead, 3, "http_status: HTTP 500"),
        (dead_too, 3, "http_status: HTTP 500"),
    ]
    assert entries[0]["task_type"] == "job" and entries[0]["dead_lettered_at"] == "2026-01-01T09:00:00Z"


def test_dlq_replay_resets_named_or_all_dead_rows(sqlite_url: str, sqlite_engine: Engine) -> None:
    dead, done, dead_too = _rows(sqlite_engine, "Dead", "Succeeded", "Dead")

    code, out, err = _headway(sqlite_url, "dlq", "replay", str(dead), str(done))
    assert code == 1 and out.startswith("1 replayed")
    assert err == f"error: not dead, nothing replayed: row {done}\n"
    assert _status(sqlite_engine) == {dead: ("Scheduled", 0), done: ("Succeeded", 1), dead_too: ("Dead", 3)}

    code, out, _ = _headway(sqlite_url, "dlq", "replay", "--all")
    assert code == 0 and out.startswith("1 replayed")
    assert _status(sqlite_engine)[dead_too] == ("Scheduled", 0)
