"""`headway task show|edit|activate|deactivate|run|runs` and `headway task-type list|add|edit`
as users run them, in a subprocess, on SQLite and PostgreSQL. Future instants are computed
from the clock the commands read (the `created_at` a command gave a task it just created),
never from a literal date or the test's own clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from engine.adapters.database import create_db_engine
from engine.adapters.tables import task_runs, task_schedule, task_types, tasks
from tests.acceptance.test_cli import headway
from tests.handler_plugin import write_plugin_metadata

pytestmark = pytest.mark.acceptance


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clock_of(task: dict[str, Any]) -> datetime:
    """The instant the command's clock read when it created `task`."""
    return datetime.fromisoformat(task["created_at"].replace("Z", "+00:00"))


def as_json(*args: str, database_url: str) -> Any:
    return json.loads(headway(*args, "--json", database_url=database_url, check=True).stdout)


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the commands write, to prove a refusal wrote nothing."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))
                ]
                for table in (tasks, task_schedule, task_runs, task_types)
            }
    finally:
        engine.dispose()


def write(url: str, statement: Any) -> None:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(statement)
    engine.dispose()


def test_a_task_shown_edited_stopped_restarted_and_run_now(db_url: str) -> None:
    task = as_json(
        "task",
        "add",
        "--name",
        "digest",
        "--type",
        "http",
        "--cron",
        "*/5 * * * *",
        "--payload",
        '{"url": "u"}',
        database_url=db_url,
    )
    shown = as_json("task", "show", str(task["id"]), database_url=db_url)
    assert {key: shown[key] for key in task} == task
    assert len(shown["next_runs"]) == 5 and shown["last_runs"] == []
    firsts = [datetime.fromisoformat(text.replace("Z", "+00:00")) for text in shown["next_runs"]]
    assert all(moment > clock_of(task) and moment.minute % 5 == 0 and moment.second == 0 for moment in firsts)
    assert [b - a for a, b in zip(firsts, firsts[1:], strict=False)] == [timedelta(minutes=5)] * 4

    moved = as_json("task", "edit", str(task["id"]), "--tz", "Asia/Kolkata", database_url=db_url)
    assert (moved["cron_expression"], moved["timezone"], moved["name"], moved["payload"]) == (
        "*/5 * * * *",
        "Asia/Kolkata",
        "digest",
        {"url": "u"},
    )
    at = instant(clock_of(task) + timedelta(hours=2))
    once = as_json("task", "edit", str(task["id"]), "--at", at, "--name", "one digest", database_url=db_url)
    assert (once["kind"], once["cron_expression"], once["timezone"], once["run_at"], once["name"]) == (
        "once",
        None,
        None,
        at,
        "one digest",
    )
    assert as_json("task", "show", str(task["id"]), database_url=db_url)["next_runs"] == [at]

    assert as_json("task", "deactivate", str(task["id"]), database_url=db_url)["active"] is False
    assert as_json("task", "show", str(task["id"]), database_url=db_url)["next_runs"] == []
    refused = headway("task", "run", str(task["id"]), database_url=db_url)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"error: task {task['id']} is inactive; make it active to run it " + (
        f"(`headway task activate {task['id']}`)\n"
    )
    assert headway("task", "activate", str(task["id"]), database_url=db_url, check=True).stdout == (
        f"task {task['id']} (one digest) is active\n"
    )
    requested = as_json("task", "run", str(task["id"]), database_url=db_url)
    assert requested["task_id"] == task["id"]
    rows = snapshot(db_url)["task_schedule"]
    assert [(row[0], row[1], row[3]) for row in rows] == [(requested["schedule_id"], task["id"], "Scheduled")]


def test_task_runs_lists_attempts_newest_first_with_outcome_elapsed_and_error(db_url: str) -> None:
    task = as_json("task", "add", "--name", "flaky", "--type", "http", "--now", database_url=db_url)
    started = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a recorded past: the rows are input here
    for attempt, outcome, elapsed, error in (
        (1, "http_status", 1_234, "http_status: 503 Service Unavailable\nretry later"),
        (2, "succeeded", 87, None),
    ):
        write(
            db_url,
            insert(task_runs).values(
                task_id=task["id"],
                task_type="http",
                attempt=attempt,
                started_at=started + timedelta(seconds=10 * attempt),
                finished_at=started + timedelta(seconds=10 * attempt + 2),
                elapsed_ms=elapsed,
                outcome=outcome,
                error=error,
            ),
        )
    page = as_json("task", "runs", str(task["id"]), "--limit", "1", database_url=db_url)
    assert page["total"] == 2
    assert [(run["attempt"], run["status"], run["elapsed_ms"]) for run in page["items"]] == [
        (2, "Succeeded", 87)
    ]
    text = headway("task", "runs", str(task["id"]), database_url=db_url, check=True).stdout.splitlines()
    assert text[1].split()[:5] == ["2026-01-05T09:00:20Z", "2", "Succeeded", "succeeded", "87"]
    assert text[2].split()[:5] == ["2026-01-05T09:00:10Z", "1", "Failed", "http_status", "1234"]
    assert text[2].endswith("http_status: 503 Service Unavailable retry later")
    assert text[-1] == "2 of 2 attempts"
    shown = headway("task", "show", str(task["id"]), database_url=db_url, check=True).stdout
    assert "last runs (2 of 2):" in shown and "http_status" in shown


def test_task_types_added_from_a_plugin_handler_edited_and_used(db_url: str, tmp_path: Path) -> None:
    add = ("task-type", "add", "invoice", "--handler", "billing_run", "--expected-duration-ms", "2500")
    unregistered = headway(*add, database_url=db_url)
    assert unregistered.returncode == 2
    assert unregistered.stderr.startswith("error: handler: no handler named 'billing_run' is registered")
    plugin = {"PYTHONPATH": str(write_plugin_metadata(tmp_path, "billing_run"))}
    created = json.loads(
        headway(*add, "--retry-base-ms", "500", "--json", database_url=db_url, env=plugin, check=True).stdout
    )
    assert created == {
        "name": "invoice",
        "description": "",
        "handler": "billing_run",
        "expected_duration_ms": 2500,
        "timeout_ms": 30000,
        "max_attempts": 3,
        "config": {"retry_base_ms": 500},
    }
    edited = as_json(
        "task-type",
        "edit",
        "invoice",
        "--timeout-ms",
        "9000",
        "--retry-max-ms",
        "4000",
        "--description",
        "bills",
        database_url=db_url,
    )
    assert edited == created | {
        "timeout_ms": 9000,
        "description": "bills",
        "config": {"retry_base_ms": 500, "retry_max_ms": 4000},
    }
    listed = as_json("task-type", "list", database_url=db_url)
    assert [row["name"] for row in listed] == ["http", "invoice", "notification", "reminder"]
    assert listed[1] == edited
    text = headway("task-type", "list", database_url=db_url, check=True).stdout
    assert "invoice        handler=billing_run   expected=2500 ms timeout=9000 ms attempts=3" in text
    assert as_json("task", "types", database_url=db_url) == listed
    task = as_json("task", "add", "--name", "monthly", "--type", "invoice", "--now", database_url=db_url)
    assert task["task_type"] == "invoice"


def assert_refused(url: str, cases: list[tuple[list[str], int, str]]) -> None:
    """Each command exits `code` with one line on stderr starting `start`, prints nothing on
    stdout, and leaves every table as it was. Every other case also asks for --json, which
    must not change how a refusal is reported."""
    before = snapshot(url)
    for index, (args, code, start) in enumerate(cases):
        result = headway(*args, *(["--json"] if index % 2 else []), database_url=url)
        assert (result.returncode, result.stdout) == (code, ""), (args, result.stderr)
        assert result.stderr.startswith(start), (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1, (args, result.stderr)
    assert snapshot(url) == before


def test_refusals_by_the_database_side_name_the_field_and_write_nothing(db_url: str) -> None:
    cron = as_json("task", "add", "--name", "c", "--type", "http", "--cron", "0 * * * *", database_url=db_url)
    later = instant(clock_of(cron) + timedelta(hours=3))
    once = as_json("task", "add", "--name", "o", "--type", "http", "--at", later, database_url=db_url)
    as_json("task", "deactivate", str(once["id"]), database_url=db_url)
    # The once task's time passes while it is inactive (set in the database: the commands
    # refuse a past --at themselves).
    passed = clock_of(cron) - timedelta(minutes=1)
    write(db_url, update(tasks).where(tasks.c.id == once["id"]).values(run_at=passed))
    c, o = str(cron["id"]), str(once["id"])
    assert_refused(
        db_url,
        [
            (
                ["task", "edit", c, "--cron", "61 * * * *"],
                2,
                "error: cron_expression: minute field: 61 is out",
            ),
            (["task", "edit", c, "--at", instant(passed)], 2, "error: run_at: run_at "),
            (["task", "edit", c, "--type", "nope"], 2, "error: task_type: unknown task type 'nope'"),
            (["task", "edit", o, "--tz", "UTC"], 2, "error: timezone: timezone is only for cron tasks"),
            (["task", "activate", o], 2, "error: run_at: run_at "),
            (["task", "show", "999999"], 1, "error: task 999999 not found"),
            (["task", "edit", "999999", "--name", "x"], 1, "error: task 999999 not found"),
            (["task", "run", "999999"], 1, "error: task 999999 not found"),
            (["task", "runs", "999999"], 1, "error: task 999999 not found"),
            (
                ["task-type", "add", "http", "--handler", "http", "--expected-duration-ms", "1"],
                2,
                "error: name: task",
            ),
            (
                ["task-type", "edit", "http", "--handler", "nope"],
                2,
                "error: handler: no handler named 'nope'",
            ),
            (
                ["task-type", "edit", "http", "--retry-base-ms", "-1"],
                2,
                "error: config: retry_base_ms must be",
            ),
            (
                ["task-type", "edit", "nothing", "--timeout-ms", "5"],
                1,
                "error: task type 'nothing' not found",
            ),
        ],
    )


def test_refusals_of_the_command_line_itself(sqlite_url: str) -> None:
    # Checked before the database is asked: one dialect is enough.
    add_type = ("task-type", "add", "x", "--handler", "http")
    assert_refused(
        sqlite_url,
        [
            (
                ["task", "edit", "1", "--at", "tomorrow"],
                2,
                "error: --at: 'tomorrow' is not an ISO-8601 instant",
            ),
            (["task", "edit", "1", "--payload", "[1]"], 2, "error: --payload: must be a JSON object"),
            (
                ["task", "edit", "1", "--now", "--cron", "* * * * *"],
                2,
                "error: give at most one of --cron, --at",
            ),
            (["task", "edit", "1", "--now", "--tz", "UTC"], 2, "error: --tz: only goes with --cron"),
            (["task", "edit", "1"], 2, "error: nothing to change: give --name"),
            (["task", "show", "abc"], 2, "error: ID: 'abc' is not a task id"),
            (["task", "deactivate", "0"], 2, "error: ID: 0 is not a task id"),
            (["task", "runs", "1", "--limit", "0"], 2, "error: --limit: must be between 1 and 500"),
            (["task", "add", "--type", "http", "--now"], 2, "error: --name: required"),
            (
                ["task-type", "add", "Bad", "--handler", "http", "--expected-duration-ms", "1"],
                2,
                "error: name: must",
            ),
            ([*add_type], 2, "error: --expected-duration-ms: required"),
            (
                [*add_type, "--expected-duration-ms", "-1"],
                2,
                "error: expected_duration_ms: Input should be greater",
            ),
            (
                [*add_type, "--expected-duration-ms", "1", "--timeout-ms", "0"],
                2,
                "error: timeout_ms: Input should",
            ),
            (
                [*add_type, "--expected-duration-ms", "1", "--config", "{"],
                2,
                "error: --config: not valid JSON",
            ),
            (["task-type", "edit", "http"], 2, "error: nothing to change"),
        ],
    )
