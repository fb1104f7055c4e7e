"""The `headway` command as users run it, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance


def headway(
    *args: str, database_url: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if database_url:
        env["HEADWAY_DATABASE_URL"] = database_url
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
        "2030-01-01T00:00:00Z",
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
