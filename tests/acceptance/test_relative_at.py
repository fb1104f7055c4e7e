"""`headway task add --at +2h`: a one-off placed from the clock the command reads, so the
README's example works on any day."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.adapters.database import create_db_engine
from tests.acceptance.test_cli import headway

pytestmark = pytest.mark.acceptance


def test_at_takes_a_span_from_now(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'headway.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    before = datetime.now(UTC)
    headway("task", "add", "--name", "launch", "--type", "http", "--at", "+2h", database_url=url, check=True)
    after = datetime.now(UTC)
    engine = create_db_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT run_at FROM tasks WHERE name = 'launch'")).scalar_one()
    engine.dispose()
    run_at = datetime.fromisoformat(str(stored)).replace(tzinfo=UTC)
    # Two processes read the clock: a minute's slack either way still tells +2h from a fixed date.
    slack = timedelta(minutes=1)
    assert before + timedelta(hours=2) - slack <= run_at <= after + timedelta(hours=2) + slack


def test_a_bad_span_names_the_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'headway.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    result = headway("task", "add", "--name", "x", "--type", "http", "--at", "+2w", database_url=url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --at: '+2w' is not an ISO-8601 instant or a span from now")


def test_every_python_process_of_the_run_sees_the_same_clock() -> None:
    """`make test` runs the clock-sensitive tests again a year ahead; this proves the move
    reached the `headway` subprocesses (and is nil in the ordinary run): the shell's `date`,
    which no Python start-up hook touches, gives the real time."""
    days = float(os.environ.get("TEST_CLOCK_AHEAD_DAYS") or 0)
    real = datetime.fromtimestamp(int(subprocess.run(["date", "+%s"], capture_output=True, text=True,
                                                     check=True).stdout), UTC)  # fmt: skip
    printed = headway("cron", "next", "* * * * *", "--count", "1", check=True).stdout.strip()
    seen = datetime.fromisoformat(printed.replace("Z", "+00:00"))
    shift = seen - real
    assert timedelta(days=days) - timedelta(minutes=2) <= shift <= timedelta(days=days) + timedelta(minutes=2)
