"""`headway simulate` as a release pipeline runs it: the installed command, its exit codes,
its JSON, its help, and `--from-db` on databases made with `headway db upgrade` and
`headway task add` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.adapters.database import create_db_engine
from tests.integration.helpers import record_run

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "simulation" / "examples" / "fleet.yaml"
HEADWAY = Path(sys.executable).with_name("headway")  # the console script `pip install` made
START = "2026-12-01T08:00:00Z"


def headway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert HEADWAY.exists(), f"{HEADWAY} is missing: run `make unit` to install Headway"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")}
    environment.update(COLUMNS="250", **(env or {}))
    return subprocess.run(
        [str(HEADWAY), *args], capture_output=True, text=True, env=environment, timeout=120
    )


def test_help_shows_every_option_with_its_variable() -> None:
    result = headway("simulate", "--help")
    assert result.returncode == 0
    for option, variable in [
        ("--from-db", "HEADWAY_SIM_FROM_DB"),
        ("--database-url", "HEADWAY_DATABASE_URL"),
        ("--instances", "HEADWAY_SIM_INSTANCES"),
        ("--capacity-ms", "HEADWAY_CAPACITY_MS"),
        ("--buffer", "HEADWAY_BUFFER"),
        ("--min-instances", "HEADWAY_SIM_MIN_INSTANCES"),
        ("--max-instances", "HEADWAY_SIM_MAX_INSTANCES"),
        ("--scale-up-lag-s", "HEADWAY_SIM_SCALE_UP_LAG_S"),
        ("--poll-interval-s", "HEADWAY_SIM_POLL_INTERVAL_S"),
        ("--prefetch", "HEADWAY_SIM_PREFETCH"),
        ("--dispatch-overhead-ms", "HEADWAY_SIM_DISPATCH_OVERHEAD_MS"),
        ("--start", "HEADWAY_SIM_START"),
        ("--hours", "HEADWAY_SIM_HOURS"),
        ("--target-s", "HEADWAY_SIM_TARGET_S"),
        ("--seed", "HEADWAY_SIM_SEED"),
        ("--replications", "HEADWAY_SIM_REPLICATIONS"),
        ("--json", "HEADWAY_SIM_JSON"),
        ("--csv", "HEADWAY_SIM_CSV"),
        ("--report", "HEADWAY_SIM_REPORT"),
    ]:
        line = next(line for line in result.stdout.splitlines() if f" {option} " in line)
        assert f"env var: {variable}]" in line, line


def test_exit_codes_gate_a_release(tmp_path: Path) -> None:
    passing = headway("simulate", str(EXAMPLE), "--start", START, "--json")
    assert passing.returncode == 0, passing.stderr
    document = json.loads(passing.stdout)
    assert list(document)[:7] == [
        "tasks",
        "on_time_pct",
        "start_delay_s",
        "instance_minutes",
        "peak_instances",
        "target_s",
        "verdict",
    ]
    assert list(document["start_delay_s"]) == ["mean", "p50", "p95", "p99", "max"]
    assert (document["verdict"], document["on_time_pct"]) == ("pass", 100.0)

    failing = headway(
        "simulate", str(EXAMPLE), "--start", START, "--instances", "20", "--concurrency", "1", "--json"
    )
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["verdict"] == "fail"

    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace('"30 2 * * *"', '"30 25 * * *"'))
    refused = headway("simulate", str(bad), "--start", START)
    assert refused.returncode == 2
    assert refused.stderr == f"error: {bad}:8: tasks[1].cron: hour field: 25 is out of range 0-23\n"
    assert refused.stdout == ""


def test_options_from_the_environment_and_outputs_on_disk(tmp_path: Path) -> None:
    env = {
        "HEADWAY_SIM_WORKLOAD": str(EXAMPLE),
        "HEADWAY_SIM_START": START,
        "HEADWAY_SIM_HOURS": "1",
        "HEADWAY_SIM_INSTANCES": "corrected",
        "HEADWAY_SIM_REPLICATIONS": "2",
        "HEADWAY_SIM_CSV": str(tmp_path / "minutes.csv"),
        "HEADWAY_SIM_REPORT": str(tmp_path / "report.html"),
    }
    result = headway("simulate", env=env)
    assert result.returncode == 0, result.stderr
    assert "instances: corrected" in result.stdout and "(2 replications pooled)" in result.stdout
    assert len((tmp_path / "minutes.csv").read_text().splitlines()) > 2 * 60
    assert "vega" in (tmp_path / "report.html").read_text()


def winter_morning_ahead(now: datetime) -> datetime:
    """08:00 UTC on 15 January of next year: always in the future for `headway task add`,
    and in winter, so 02:30 in Berlin is 01:30 UTC whatever the day the suite runs."""
    return datetime(now.year + 1, 1, 15, 8, tzinfo=UTC)


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_from_db_on_a_database_built_with_the_cli(db_url: str, tmp_path: Path) -> None:
    # `task add --at` checks the instant against the real clock, so the window is placed
    # from it; `--from-db --start` takes its instant as input and reads history before it.
    start = winter_morning_ahead(datetime.now(UTC))
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'fresh.db'}"  # let `headway db upgrade` create it
    env = {"HEADWAY_DATABASE_URL": db_url}
    assert headway("db", "upgrade", env=env).returncode == 0
    for arguments in [
        ["--name", "minutely", "--type", "http", "--cron", "* * * * *"],
        ["--name", "nightly", "--type", "http", "--cron", "30 2 * * *", "--tz", "Europe/Berlin"],
        ["--name", "launch", "--type", "reminder", "--at", iso(start + timedelta(hours=1))],
        ["--name", "welcome", "--type", "notification", "--now"],
    ]:
        added = headway("task", "add", *arguments, env=env)
        assert added.returncode == 0, added.stderr
    engine = create_db_engine(db_url)
    record_run(engine, "http", start - timedelta(days=1), 20_000)
    record_run(engine, "http", start - timedelta(days=2), 40_000)
    record_run(engine, "http", start - timedelta(days=400), 999_999)  # older than a year
    engine.dispose()

    result = headway("simulate", "--from-db", "--start", iso(start), "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    # 180 minutely runs, the one-off at 09:00 and the waiting immediate task; not the nightly.
    assert document["tasks"] == 182
    # http runs took 30,000 ms on average: ceil(30,000 / 9,000) = 4 instances a minute.
    assert document["peak_instances"] == 4
    assert document["verdict"] == "pass"

    night = headway(
        "simulate", "--from-db", "--start", iso(start.replace(hour=1)), "--hours", "1",
        "--instances", "1", "--concurrency", "1", "--json", env=env,
    )  # fmt: skip
    # 02:30 in Berlin is 01:30 UTC: on one instance it waits 20 or 40 s for the minutely run.
    assert night.returncode == 1
    assert json.loads(night.stdout)["tasks"] == 60 + 1 + 1
