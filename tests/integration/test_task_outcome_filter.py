"""The task list filtered by each task's last outcome, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from engine.adapters.tables import task_schedule
from engine.services.tasks import NO_RUN_YET, TaskFilter, list_tasks
from tests.integration.helpers import add_cron_task

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def test_filter_by_last_outcome(db_engine: Engine) -> None:
    names = ["recovered", "failing", "dead", "fresh"]
    ids = {name: add_cron_task(db_engine, NOW, "0 0 1 1 *", name=name).id for name in names}
    history = {
        "recovered": ["Failed", "Succeeded"],
        "failing": ["Succeeded", "Failed"],
        "dead": ["Dead"],
        "fresh": [],
    }
    rows = [
        {"task_id": ids[name], "scheduled_time": NOW - timedelta(hours=len(states) - i), "status": status,
         "attempt": 1}
        for name, states in history.items()
        for i, status in enumerate(states)
    ]  # fmt: skip
    rows.append({"task_id": ids["failing"], "scheduled_time": NOW, "status": "Scheduled", "attempt": 0})
    with db_engine.begin() as connection:
        connection.execute(insert(task_schedule), rows)

    def listed(outcome: str) -> list[str]:
        page = list_tasks(db_engine, TaskFilter(last_outcome=outcome))
        assert page.total == len(page.items)
        return sorted(task.name for task in page.items)

    assert listed("Succeeded") == ["recovered"]
    assert listed("Failed") == ["failing"]
    assert listed("Dead") == ["dead"]
    assert listed(NO_RUN_YET) == ["fresh"]
