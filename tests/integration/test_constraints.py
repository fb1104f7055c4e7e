"""The schema refuses bad states on its own, whatever code writes to it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from engine.adapters.tables import task_schedule, tasks
from tests.integration.helpers import add_cron_task

pytestmark = pytest.mark.integration
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _task_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "name": "x",
        "task_type": "http",
        "kind": "immediate",
        "payload": {},
        "active": True,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return row | overrides


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "cron"},  # no expression or zone
        {"kind": "cron", "cron_expression": "* * * * *"},  # no zone
        {"kind": "once"},  # no run_at
        {"kind": "weekly"},
        {"name": "   "},
        {"task_type": "no-such-type"},
    ],
)
def test_bad_task_rows_are_refused(db_engine: Engine, overrides: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), db_engine.begin() as connection:
        connection.execute(insert(tasks).values(**_task_row(**overrides)))


def test_one_row_per_task_and_fire_time_and_known_statuses(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "* * * * *")
    with db_engine.begin() as connection:
        connection.execute(insert(task_schedule).values(task_id=task.id, scheduled_time=NOW))
    with pytest.raises(IntegrityError), db_engine.begin() as connection:
        connection.execute(insert(task_schedule).values(task_id=task.id, scheduled_time=NOW))
    with pytest.raises(IntegrityError), db_engine.begin() as connection:
        connection.execute(update(task_schedule).values(status="Lost"))
