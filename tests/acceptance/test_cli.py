"""The `headway` command as users run it, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.adapters.database import create_db_engine

pytestmark = pytest.mark.acceptance


def headway(
    *args: str, database_url: str | None = None, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HEADWAY_")} | (env or {})
    if database_url:
        env.setdefault("HEADWAY_DATABASE_URL", database_url)
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"headway {' '.join(args)} failed: {result.stderr}")
    return result


def test_cron_next_prints_utc_instants_one_per_line() -> None:
    result = headway(
        "cron",
        "next",
        "0 9 * * mon-fri",
        "--tz",
        "America/New_York",
        "--from",
        "2026-01-01T00:00:00Z",
        "--count",
        "3",
        check=True,
    )
    assert result.stdout.splitlines() == [
        "2026-01-01T14:00:00Z",
        "2026-01-02T14:00:00Z",
        "2026-01-05T14:00:00Z",
    ]


def test_cron_next_is_strictly_after_from() -> None:
    result = headway(
        "cron", "next", "*/15 * * * *", "--from", "2026-01-01T00:15:00Z", "--count", "1", check=True
    )
    assert result.stdout.strip() == "2026-01-01T00:30:00Z"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["*/0 * * * *"], "EXPRESSION"),
        (["* * *"], "EXPRESSION"),
        (["* * * * *", "--tz", "Mars/Olympus"], "--tz"),
        (["* * * * *", "--from", "yesterday"], "--from"),
        (["* * * * *", "--count", "0"], "--count"),
    ],
)
def test_cron_next_bad_input_exits_2_with_reason(args: list[str], needle: str) -> None:
    result = headway("cron", "next", *args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert result.stdout == ""


def test_task_add_list_schedule_and_forecast_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    headway(
        "task",
        "add",
        "--name",
        "every minute",
        "--type",
        "http",
        "--cron",
        "* * * * *",
        "--payload",
        '{"url": "https://example.org"}',
        database_url=url,
        check=True,
    )
    headway("task", "add", "--name", "right now", "--type", "reminder", "--now", database_url=url, check=True)
    bad = headway("task", "add", "--name", "x", "--type", "http", "--cron", "0 0 31 4 *", database_url=url)
    assert bad.returncode == 2 and "cron_expression" in bad.stderr
    bad_type = headway("task", "add", "--name", "x", "--type", "nope", "--now", database_url=url)
    assert bad_type.returncode == 2 and "task_type" in bad_type.stderr
    both = headway(
        "task",
        "add",
        "--name",
        "x",
        "--type",
        "http",
        "--now",
        "--at",
        "+1h",
        database_url=url,
    )
    assert both.returncode == 2 and "exactly one" in both.stderr

    headway("scheduler", "--once", database_url=url, check=True)
    listing = json.loads(headway("task", "list", "--json", database_url=url, check=True).stdout)
    assert listing["total"] == 2
    assert {item["name"] for item in listing["items"]} == {"every minute", "right now"}
    assert all(item["next_run"] for item in listing["items"])

    series = json.loads(headway("forecast", "--hours", "1", "--json", database_url=url, check=True).stdout)
    assert len(series) == 60
    assert sum(minute["task_count"] for minute in series) >= 59
    assert all(minute["required_instances"] >= (1 if minute["task_count"] else 0) for minute in series)


def test_process_against_an_unmigrated_database_says_so_and_exits_1(tmp_path: Path) -> None:
    result = headway("scheduler", "--once", database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 1
    assert "headway db upgrade" in result.stderr


def test_postgres_urls_are_accepted_as_pasted(pg_url: str) -> None:
    pasted = pg_url.replace("postgresql+psycopg://", "postgres://")
    result = headway("scheduler", "--once", database_url=pasted)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'headway.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    return url


ADD = ("task", "add", "--name", "n", "--type", "http")


@pytest.mark.parametrize(
    ("args", "env", "code", "needle"),
    [
        ([*ADD, "--now", "--payload", "[1]"], {}, 2, "--payload: must be a JSON object"),
        ([*ADD, "--now", "--payload", "{bad"], {}, 2, "--payload: not valid JSON"),
        ([*ADD, "--now", "--payload", '{"a": NaN}'], {}, 2, "--payload: NaN is not a JSON value"),
        ([*ADD, "--now", "--payload", '{"a": 1e999}'], {}, 2, "--payload: the number 1e999"),
        ([*ADD, "--at", "2030-01-01T09:00:00"], {}, 2, "--at: '2030-01-01T09:00:00' has no offset"),
        ([*ADD, "--at", "2020-01-01T09:00:00Z"], {}, 2, "run_at: run_at 2020-01-01T09:00:00+00:00 is not in"),
        ([*ADD, "--at", "0001-01-01T00:00:00+01:00"], {}, 2, "--at: '0001-01-01T00:00:00+01:00' is outside"),
        ([*ADD, "--now", "--tz", "UTC"], {}, 2, "--tz: only goes with --cron"),
        ([*ADD, "--cron", "* * * * *", "--tz", "Mars/Olympus"], {}, 2, "timezone: unknown timezone"),
        ([*ADD, "--cron", "0 0 30 2 *"], {}, 2, "cron_expression: never fires"),
        (["task", "add", "--name", "n", "--type", "nope", "--now"], {}, 2, "task_type: unknown task type"),
        (["task", "add", "--name", "  ", "--type", "http", "--now"], {}, 2, "name: name must not be blank"),
        (
            ["task", "add", "--name", "x" * 201, "--type", "http", "--now"],
            {},
            2,
            "name: String should have at",
        ),
        (["cron", "next", "* * * * *", "--count", "0"], {}, 2, "--count: must be between 1 and 10000"),
        (["cron", "next", "* * * * *", "--count", "99999999999"], {}, 2, "--count: must be between 1"),
        (["forecast", "--hours", "0"], {}, 2, "--hours: Input should be greater than 0"),
        (["forecast"], {"HEADWAY_FORECAST_HOURS": "200"}, 2, "HEADWAY_FORECAST_HOURS: Input should be less"),
        (["forecast"], {"HEADWAY_BUFFER": "1.5"}, 2, "HEADWAY_BUFFER: Input should be less than 1"),
        (["scheduler", "--once"], {"HEADWAY_CAPACITY_MS": "abc"}, 2, "HEADWAY_CAPACITY_MS: Input should be"),
        (
            ["task", "list"],
            {"HEADWAY_DATABASE_URL": "mysql://u@h/d"},
            2,
            "HEADWAY_DATABASE_URL: Headway runs",
        ),
        (["task", "list", "--database-url", "headway.db"], {}, 2, "--database-url: not a database URL"),
        (
            ["task", "list", "--database-url", "postgres://u:pw@127.0.0.1:1/headway"],
            {},
            1,
            "cannot use the database at postgresql+psycopg://u:***@127.0.0.1:1/headway: connection failed",
        ),
        (["db", "current", "--database-url", "postgres://u@127.0.0.1:1/h"], {}, 1, "cannot use the database"),
        (
            ["db", "upgrade", "--database-url", "sqlite:////no/such/dir/h.db"],
            {},
            1,
            "cannot use the database at sqlite:////no/such/dir/h.db: unable to open database file",
        ),
    ],
)
def test_bad_input_gets_one_line_and_exit_code_never_a_traceback(
    migrated_sqlite: str, args: list[str], env: dict[str, str], code: int, needle: str
) -> None:
    result = headway(*args, database_url=migrated_sqlite, env=env)
    assert (result.returncode, result.stdout) == (code, ""), result.stderr
    assert result.stderr.startswith(f"error: {needle}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_schema_from_a_newer_headway_is_named_as_such(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for args in (["task", "list"], ["db", "upgrade"]):
        result = headway(*args, database_url=url)
        assert result.returncode == 1
        assert "schema is at 9999, which this Headway" in result.stderr
        assert "a newer Headway migrated it" in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_a_value_postgresql_cannot_store_is_refused_in_one_line(pg_url: str) -> None:
    result = headway(
        "task",
        "add",
        "--name",
        "n",
        "--type",
        "http",
        "--now",
        "--payload",
        '{"a": "x\\u0000y"}',
        database_url=pg_url,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: payload: strings must not contain the NUL character")
    assert len(result.stderr.splitlines()) == 1


def test_task_list_json_has_every_field_of_a_task(migrated_sqlite: str) -> None:
    headway(*ADD, "--cron", "*/5 * * * *", "--tz", "Europe/Berlin", database_url=migrated_sqlite, check=True)
    headway("scheduler", "--once", database_url=migrated_sqlite, check=True)
    listing = json.loads(headway("task", "list", "--json", database_url=migrated_sqlite, check=True).stdout)
    item = listing["items"][0]
    assert set(item) == {
        "id",
        "name",
        "task_type",
        "kind",
        "cron_expression",
        "timezone",
        "run_at",
        "payload",
        "active",
        "created_at",
        "updated_at",
        "next_run",
        "last_run_status",
        "last_run_at",
        "overlap_policy",
        "misfire_policy",
        "misfire_grace_s",
        "timeout_s",
        "max_attempts",
        "ordering_key",
        "after",
        "warnings",
        "dependents",
    }
    assert (item["kind"], item["cron_expression"], item["timezone"]) == (
        "cron",
        "*/5 * * * *",
        "Europe/Berlin",
    )
    assert item["created_at"].endswith("Z") and item["next_run"].endswith(":00Z")
    assert item["next_run"][14:16] in {f"{m:02d}" for m in range(0, 60, 5)}
