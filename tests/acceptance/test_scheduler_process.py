"""The Scheduler as a real process: killed mid-pass, restarted, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, text

from engine.adapters.database import create_db_engine
from engine.adapters.tables import task_schedule, tasks

pytestmark = pytest.mark.acceptance


def _seed(engine: Engine, count: int) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            tasks.insert(),
            [
                {
                    "name": f"t{i}",
                    "task_type": "http",
                    "kind": "cron",
                    "cron_expression": ["* * * * *", "*/5 * * * *"][i % 2],
                    "timezone": "UTC",
                    "payload": {},
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )


def _unmarked(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(tasks).where(tasks.c.materialized_until.is_(None))
            ).scalar_one()
        )


def _start(url: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, HEADWAY_DATABASE_URL=url, HEADWAY_SCHEDULER_WINDOW_HOURS="3")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "scheduler", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_mid_pass_then_restart_converges_without_duplicates(pg_url: str) -> None:
    engine = create_db_engine(pg_url)
    _seed(engine, 3_000)
    process = _start(pg_url)
    time.sleep(2.0)  # interpreter start-up, then the first (large) pass is under way
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    # The killed client's backend may still hold its row locks for a moment; a restarted
    # Scheduler skips locked tasks and takes them on a later pass.
    restarted = _start(pg_url, "--interval-s", "1")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and _unmarked(engine):
        time.sleep(0.5)
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(30) == 0
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(task_schedule)).scalar_one()
        distinct = connection.execute(
            text("SELECT count(*) FROM (SELECT DISTINCT task_id, scheduled_time FROM task_schedule) d")
        ).scalar_one()
    assert total == distinct
    assert _unmarked(engine) == 0
    # 1,500 tasks every minute and 1,500 every five minutes over three hours.
    assert 1_500 * 179 + 1_500 * 35 <= total <= 1_500 * 181 + 1_500 * 37
    engine.dispose()


def test_sigterm_stops_the_loop_cleanly(sqlite_url: str) -> None:
    process = _start(sqlite_url, "--interval-s", "1")
    # The first pass's log line comes after the signal handlers are in place (however long a
    # loaded machine takes to get there).
    assert process.stderr is not None
    assert "full pass" in process.stderr.readline()
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
