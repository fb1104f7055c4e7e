"""`--from-db` against a SQLite file with the engine's tables."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from engine.core.dependencies import DependencyTrigger
from engine.core.policies import MisfirePolicy, OverlapPolicy
from simulation.cli import simulate
from simulation.durations import DurationKind
from simulation.from_db import load_from_database
from simulation.workload import WorkloadError

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)

SCHEMA = [
    "CREATE TABLE task_types (name TEXT PRIMARY KEY, description TEXT, handler TEXT, "
    "expected_duration_ms INTEGER, timeout_ms INTEGER, max_attempts INTEGER)",
    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT, task_type TEXT, kind TEXT, "
    "cron_expression TEXT, timezone TEXT, run_at TIMESTAMP, payload JSON, active BOOLEAN, "
    "created_at TIMESTAMP, updated_at TIMESTAMP, overlap_policy TEXT NOT NULL DEFAULT 'allow', "
    "misfire_policy TEXT NOT NULL DEFAULT 'run_all', misfire_grace_s INTEGER, timeout_s INTEGER, "
    "max_attempts INTEGER, ordering_key TEXT, after_task_id INTEGER, after_on TEXT)",
    "CREATE TABLE task_runs (id INTEGER PRIMARY KEY, schedule_id INTEGER, task_id INTEGER, "
    "task_type TEXT, attempt INTEGER, started_at TIMESTAMP, finished_at TIMESTAMP, "
    "elapsed_ms INTEGER, outcome TEXT, output_excerpt TEXT)",
]


def make_database(path: Path, tasks: list[dict]) -> str:
    url = f"sqlite:///{path}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        for statement in SCHEMA:
            connection.execute(text(statement))
        connection.execute(
            text("INSERT INTO task_types (name, expected_duration_ms) VALUES (:name, :ms)"),
            [
                {"name": "report", "ms": 450},
                {"name": "sync", "ms": 3000},
                {"name": "vague", "ms": None},
            ],
        )
        connection.execute(
            text(
                "INSERT INTO tasks (id, name, task_type, kind, cron_expression, timezone, "
                "run_at, active) VALUES (:id, :name, :task_type, :kind, :cron, :tz, :run_at, "
                ":active)"
            ),
            tasks,
        )
        runs = [
            # Within the year before NOW: 1,000 and 3,000 ms; two years old: ignored.
            {"task_id": 2, "task_type": "sync", "started": NOW - timedelta(days=10), "ms": 1000},
            {"task_id": 2, "task_type": "sync", "started": NOW - timedelta(days=1), "ms": 3000},
            {"task_id": 2, "task_type": "sync", "started": NOW - timedelta(days=700), "ms": 99999},
        ]
        statement = text(
            "INSERT INTO task_runs (task_id, task_type, started_at, elapsed_ms) "
            "VALUES (:task_id, :task_type, :started, :ms)"
        ).bindparams(sqlalchemy.bindparam("started", type_=sqlalchemy.DateTime()))
        connection.execute(statement, runs)
    engine.dispose()
    return url


def task(id_, name, task_type, kind, cron=None, tz=None, run_at=None, active=True):
    return {
        "id": id_,
        "name": name,
        "task_type": task_type,
        "kind": kind,
        "cron": cron,
        "tz": tz,
        "run_at": run_at,
        "active": active,
    }


TASKS = [
    task(1, "hourly", "report", "cron", "0 * * * *", "UTC"),
    task(2, "nightly", "sync", "cron", "30 2 * * *", "Europe/Berlin"),
    task(3, "once", "report", "once", run_at="2026-12-01 09:00:00"),
    task(4, "retired", "report", "cron", "* * * * *", "UTC", active=False),
    task(5, "waiting", "report", "immediate"),
]


def test_loads_active_tasks_with_recorded_or_expected_durations(tmp_path):
    workload = load_from_database(make_database(tmp_path / "h.db", TASKS), NOW)
    assert [t.name for t in workload.tasks] == ["hourly", "nightly", "once", "waiting"]
    assert workload.types["report"].kind is DurationKind.FIXED
    assert workload.types["report"].mean_ms == 450
    assert workload.types["sync"].kind is DurationKind.EMPIRICAL
    assert sorted(workload.types["sync"].samples_ms) == [1000, 3000]
    assert workload.tasks[2].run_at == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert workload.tasks[3].run_at == NOW


def test_a_task_that_skips_overlapping_fire_times_is_simulated_so(tmp_path):
    url = make_database(tmp_path / "h.db", [task(1, "busy", "sync", "cron", "* * * * *", "UTC")])
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE tasks SET overlap_policy = 'skip'"))
    engine.dispose()
    [spec] = load_from_database(url, NOW).tasks
    assert spec.overlap is OverlapPolicy.SKIP


def test_misfire_policies_and_overrides_are_read(tmp_path):
    rows = [
        task(1, "sync", "sync", "cron", "* * * * *", "UTC"),
        task(2, "plain", "report", "cron", "0 * * * *"),
    ]
    url = make_database(tmp_path / "h.db", rows)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE tasks SET overlap_policy = 'queue', misfire_policy = 'skip_missed', "
                "misfire_grace_s = 10, timeout_s = 20, max_attempts = 1 WHERE id = 1"
            )
        )
    engine.dispose()
    sync, plain = load_from_database(url, NOW).tasks
    assert (sync.misfire, sync.misfire_grace_s) == (MisfirePolicy.SKIP_MISSED, 10)
    assert (sync.timeout_s, sync.max_attempts) == (20, 1)
    assert (plain.misfire, plain.misfire_grace_s, plain.timeout_s, plain.max_attempts) == (
        MisfirePolicy.RUN_ALL,
        None,
        None,
        None,
    )


def test_queue_ordering_keys_and_after_tasks_are_simulated_so(tmp_path):
    rows = [
        task(1, "extract", "sync", "cron", "* * * * *", "UTC"),
        task(2, "load", "report", "after"),
        task(3, "report", "report", "after"),
        task(4, "orphan", "report", "after"),
        task(5, "orphan's follower", "report", "after"),
    ]
    url = make_database(tmp_path / "h.db", rows)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE tasks SET overlap_policy = 'queue', ordering_key = 'k' WHERE id = 1"))
        # The orphan's upstream was deleted (99): the engine never triggers it, nor its follower.
        links = ((2, 1, "success"), (3, 2, "finished"), (4, 99, "success"), (5, 4, "success"))
        for task_id, upstream, on in links:
            connection.execute(
                text("UPDATE tasks SET after_task_id = :upstream, after_on = :on WHERE id = :id"),
                {"upstream": upstream, "on": on, "id": task_id},
            )
    engine.dispose()
    extract, load, report = load_from_database(url, NOW).tasks
    assert (extract.overlap, extract.ordering_key) == (OverlapPolicy.QUEUE, "k")
    assert (load.name, load.after, report.name, report.after) == ("load", 0, "report", 1)
    assert (load.on, report.on) == (DependencyTrigger.SUCCESS, DependencyTrigger.FINISHED)


def test_a_type_without_any_duration_is_bad_input(tmp_path):
    url = make_database(tmp_path / "h.db", [task(1, "odd", "vague", "cron", "* * * * *", "UTC")])
    with pytest.raises(WorkloadError) as caught:
        load_from_database(url, NOW)
    assert caught.value.field == "tasks[odd].task_type"


def test_cli_from_db(tmp_path):
    url = make_database(tmp_path / "h.db", TASKS)
    app = typer.Typer()
    app.command()(simulate)
    result = CliRunner().invoke(
        app, ["--from-db", "--start", NOW.isoformat(), "--json"], env={"HEADWAY_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tasks"] == 3 + 1 + 1  # hourly x 3, once, waiting


def run_from_db(url: str, *arguments: str):
    app = typer.Typer()
    app.command()(simulate)
    return CliRunner().invoke(app, ["--from-db", "--database-url", url, *arguments])


def test_cli_from_db_on_a_missing_file_says_so_and_creates_nothing(tmp_path):
    path = tmp_path / "missing.db"
    result = run_from_db(f"sqlite:///{path}")
    assert result.exit_code == 2
    assert "no such file: check --database-url" in result.stderr
    assert not path.exists()


def test_cli_from_db_without_tables_asks_for_db_upgrade(tmp_path):
    path = tmp_path / "empty.db"
    sqlalchemy.create_engine(f"sqlite:///{path}").connect().close()
    result = run_from_db(f"sqlite:///{path}")
    assert result.exit_code == 2
    assert "no Headway schema: run `headway db upgrade` first" in result.stderr


def test_cli_from_db_without_active_tasks_is_bad_input(tmp_path):
    retired = task(1, "retired", "report", "cron", "* * * * *", "UTC", active=False)
    url = make_database(tmp_path / "h.db", [retired])
    result = run_from_db(url, "--start", NOW.isoformat())
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("tasks: no active tasks to simulate")


def test_cli_from_db_names_the_database_without_its_password():
    # A dialect Headway does not run on is refused before any connection is tried (unit tests
    # open no sockets), and the message does not repeat the password.
    result = run_from_db("nosuchdb://planner:s3cret@db.example/headway")
    assert result.exit_code == 2
    assert "--database-url" in result.stderr and "nosuchdb" in result.stderr
    assert "s3cret" not in result.stderr
    assert run_from_db("postgresql://planner@db:notaport/headway").exit_code == 2
