"""Fixtures shared by the unit tests of the distribution flow over SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from engine.adapters.database import create_db_engine
from engine.adapters.tables import task_types


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite database with the task type `job`, handled by the handler `job`."""
    engine = create_db_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="job", handler="job", expected_duration_ms=1, timeout_ms=2_000, max_attempts=3, config={}
            )
        )
    yield engine
    engine.dispose()
