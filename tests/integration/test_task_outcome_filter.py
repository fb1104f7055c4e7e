"""The task list filtered by each task's last outcome, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from engine.adapters.tables import task_schedule
from engine.services.tasks import NO_RUN_YET, TaskFilter, get_task, list_tasks
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


def test_the_last_outcome_is_the_same_within_and_past_the_recent_window(db_engine: Engine) -> None:
    # Days before NOW of each finished row: the latest is recent, or only older rows exist.
    history = {
        "recent": [(40, "Failed"), (1, "Succeeded")],
        "old": [(40, "Succeeded"), (20, "Dead")],
        "older": [(60, "Failed")],
    }
    ids = {name: add_cron_task(db_engine, NOW, "0 0 1 1 *", name=name).id for name in history}
    rows = [
        {"task_id": ids[name], "scheduled_time": NOW - timedelta(days=days), "status": status, "attempt": 1,
         "finished_at": NOW - timedelta(days=days, seconds=-5)}
        for name, states in history.items()
        for days, status in states
    ]  # fmt: skip
    with db_engine.begin() as connection:
        connection.execute(insert(task_schedule), rows)

    def last(
        now: datetime | None, outcome: str | None = None
    ) -> dict[str, tuple[str | None, datetime | None]]:
        page = list_tasks(db_engine, TaskFilter(last_outcome=outcome), now=now)
        return {task.name: (task.last_run_status, task.last_run_at) for task in page.items}

    expected = {
        "recent": ("Succeeded", NOW - timedelta(days=1, seconds=-5)),
        "old": ("Dead", NOW - timedelta(days=20, seconds=-5)),
        "older": ("Failed", NOW - timedelta(days=60, seconds=-5)),
    }
    assert last(NOW) == last(None) == expected
    for name, outcome in expected.items():  # one task read alone finds the same
        task = get_task(db_engine, ids[name], now=NOW)
        assert (task.last_run_status, task.last_run_at) == outcome
    assert sorted(last(NOW, "Dead")) == ["old"]
