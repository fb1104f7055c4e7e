"""`headway task add --at +2h`: a one-off placed from the clock the command reads, so the
README's example works on any day."""

from __future__ import annotations

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
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= run_at <= after + timedelta(hours=2)


def test_a_bad_span_names_the_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'headway.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    result = headway("task", "add", "--name", "x", "--type", "http", "--at", "+2w", database_url=url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --at: '+2w' is not an ISO-8601 instant or a span from now")
