"""Migration 0005: task_schedule keeps only the indexes its queries use, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, select, update

from engine.adapters.tables import task_schedule
from engine.processes.scheduler import run_pass
from engine.services.dead_letters import DeadRow, list_dead_rows
from tests.integration.helpers import add_tasks

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_task_schedule_has_exactly_the_expected_indexes(db_engine: Engine) -> None:
    dialect = db_engine.dialect.name
    indexes = {
        index["name"]: index
        for index in inspect(db_engine).get_indexes("task_schedule")
        if "duplicates_constraint" not in index  # PostgreSQL's UNIQUE (task_id, scheduled_time)
    }
    # Later revisions' own indexes (0007_console: the waiting rows; 0008_reconcile: the
    # reconciliation's deadlines; 0009_history: the prunable rows and each task's next due
    # row; 0010_dead_letter_discard: the discarded dead letters; 0012_task_policies: the rows
    # claimed by policy; 0015_task_dependencies: the rows an upstream run triggered) are
    # checked by their own tests.
    later = {
        "task_schedule_upstream",
        "task_schedule_policy_due",
        "task_schedule_policy_active",
        "task_schedule_skipped",
        "task_schedule_discarded",
        "task_schedule_waiting",
        "task_schedule_handed_over",
        "task_schedule_running_lease",
        "task_schedule_retry_due",
        "task_schedule_prunable",
        "task_schedule_next_due",
    }
    assert set(indexes) - later == {
        "task_schedule_due",
        "task_schedule_by_time",
        "task_schedule_started",
        "task_schedule_leased",
        "task_schedule_dead",
    }

    def predicate(name: str) -> str:
        return str(indexes[name]["dialect_options"][f"{dialect}_where"])

    assert indexes["task_schedule_leased"]["column_names"] == ["lease_expires_at"]
    assert "'Queued'" in predicate("task_schedule_leased")
    assert "'Running'" not in predicate("task_schedule_leased")
    assert indexes["task_schedule_dead"]["column_names"] == ["finished_at", "id"]
    assert "'Dead'" in predicate("task_schedule_dead")


def test_dead_rows_are_listed_oldest_death_first(db_engine: Engine) -> None:
    add_tasks(db_engine, 5, NOW, {})
    run_pass(db_engine, NOW)
    with db_engine.connect() as connection:
        a, b, c, d, e = connection.execute(select(task_schedule.c.id).order_by("id")).scalars()
    later, earlier = NOW + timedelta(minutes=2), NOW + timedelta(minutes=1)
    states = {
        a: {"status": "Dead", "attempt": 3, "finished_at": later, "last_error": "HTTP 500"},
        b: {"status": "Failed", "attempt": 3, "finished_at": NOW},
        c: {"status": "Dead", "attempt": 1, "finished_at": earlier, "last_error": "bad payload"},
        d: {"status": "Succeeded", "attempt": 1, "finished_at": NOW},
        e: {"status": "Dead", "attempt": 2, "finished_at": earlier},
    }
    with db_engine.begin() as connection:
        for row_id, values in states.items():
            connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))
    assert list_dead_rows(db_engine, 10) == [
        DeadRow(c, "http", 1, "bad payload", earlier),
        DeadRow(e, "http", 2, "", earlier),
        DeadRow(a, "http", 3, "HTTP 500", later),
    ]
    assert [row.schedule_id for row in list_dead_rows(db_engine, 2)] == [c, e]
