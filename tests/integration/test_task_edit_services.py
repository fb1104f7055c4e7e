"""The service layer behind `task edit|activate` and `task-type add|edit`, on SQLite and
PostgreSQL: partial edits, kind changes, reactivation, and refusals that store nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from engine.adapters.tables import task_types, tasks
from engine.processes.scheduler import run_pass
from engine.services.schemas import FieldProblem, TaskInput, TaskTypeDefinition, TaskTypeInput
from engine.services.task_types import (
    TaskTypeExists,
    TaskTypeNotFound,
    create_task_type,
    edit_task_type,
    get_task_type,
    list_task_types,
    replace_task_type,
)
from engine.services.tasks import TaskNotFound, create_task, edit_task, set_active, set_inactive
from tests.integration.helpers import add_cron_task, schedule_rows

pytestmark = pytest.mark.integration

# The services take `now` as input: a fixed instant is the clock here.
NOW = datetime(2026, 3, 2, 10, 7, 30, tzinfo=UTC)
HANDLERS = frozenset({"http", "reminder", "notification", "noop", "invoice_plugin"})


def stored(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]


def once_spec(run_at: datetime, **extra: Any) -> TaskInput:
    return TaskInput.model_validate(
        {"name": "launch", "task_type": "reminder", "kind": "once", "run_at": run_at} | extra
    )


# -- tasks --------------------------------------------------------------------------------


def test_edit_changes_only_the_given_fields_and_keeps_planned_runs(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "*/15 * * * *", "Europe/Berlin", payload={"a": 1})
    run_pass(db_engine, NOW, forecast_hours=1)
    planned = schedule_rows(db_engine, task.id)
    edited = edit_task(
        db_engine, task.id, {"name": "renamed", "payload": {"b": 2}}, NOW + timedelta(seconds=5)
    )
    assert (edited.name, edited.payload, edited.cron_expression, edited.timezone, edited.task_type) == (
        "renamed",
        {"b": 2},
        "*/15 * * * *",
        "Europe/Berlin",
        "http",
    )
    assert edited.updated_at == NOW + timedelta(seconds=5)
    assert schedule_rows(db_engine, task.id) == planned  # nothing about when it runs changed


def test_edit_of_the_zone_alone_keeps_the_expression_and_replans(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "0 9 * * *", "UTC")
    run_pass(db_engine, NOW, forecast_hours=48)
    assert [row[1].hour for row in schedule_rows(db_engine, task.id)] == [9, 9]
    edited = edit_task(db_engine, task.id, {"timezone": "America/New_York"}, NOW)
    assert (edited.cron_expression, edited.timezone) == ("0 9 * * *", "America/New_York")
    assert schedule_rows(db_engine, task.id) == []
    run_pass(db_engine, NOW, forecast_hours=48)
    assert [row[1].hour for row in schedule_rows(db_engine, task.id)] == [14, 14]  # 09:00 EST


def test_edit_changes_the_kind_and_drops_the_old_kinds_fields(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "*/5 * * * *", "Europe/Paris")
    at = NOW + timedelta(hours=2)
    once = edit_task(db_engine, task.id, {"kind": "once", "run_at": at}, NOW)
    assert (once.kind.value, once.cron_expression, once.timezone, once.run_at) == ("once", None, None, at)
    again = edit_task(db_engine, task.id, {"kind": "cron", "cron_expression": "0 * * * *"}, NOW)
    assert (again.kind.value, again.cron_expression, again.timezone, again.run_at) == (
        "cron",
        "0 * * * *",
        "UTC",
        None,
    )
    immediate = edit_task(db_engine, task.id, {"kind": "immediate"}, NOW)
    assert (immediate.kind.value, immediate.cron_expression, immediate.timezone) == ("immediate", None, None)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Europe/Paris"}, "timezone"),  # a once task has no zone
        ({"run_at": NOW - timedelta(seconds=1)}, "run_at"),
        ({"run_at": NOW}, "run_at"),
        ({"task_type": "no-such-type"}, "task_type"),
        ({"name": "   "}, "name"),
        ({"kind": "cron"}, "cron_expression"),
        ({"kind": "cron", "cron_expression": "0 0 30 2 *"}, "cron_expression"),
        ({"payload": {"a": float("nan")}}, "payload"),
    ],
)
def test_a_refused_edit_names_the_field_and_changes_nothing(
    db_engine: Engine, changes: dict[str, Any], field: str
) -> None:
    task = create_task(db_engine, once_spec(NOW + timedelta(hours=1)), NOW)
    run_pass(db_engine, NOW, forecast_hours=3)
    before = (stored(db_engine, tasks), schedule_rows(db_engine))
    with pytest.raises(FieldProblem) as refused:
        edit_task(db_engine, task.id, changes, NOW)
    assert refused.value.field == field
    assert (stored(db_engine, tasks), schedule_rows(db_engine)) == before


def test_edit_of_an_unknown_task(db_engine: Engine) -> None:
    with pytest.raises(TaskNotFound):
        edit_task(db_engine, 424242, {"name": "x"}, NOW)


def test_activate_plans_a_cron_task_from_now_on_and_is_idempotent(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "*/30 * * * *")
    run_pass(db_engine, NOW, forecast_hours=1)
    set_inactive(db_engine, task.id, NOW)
    assert schedule_rows(db_engine, task.id) == []
    later = NOW + timedelta(hours=5)
    active = set_active(db_engine, task.id, later)
    assert (active.active, active.updated_at) == (True, later)
    assert set_active(db_engine, task.id, later + timedelta(minutes=1)).updated_at == later  # no-op
    run_pass(db_engine, later, forecast_hours=1)
    # The runs missed while inactive are not made up: the first is the next one after `later`.
    times = [row[1] for row in schedule_rows(db_engine, task.id)]
    assert times[:2] == [datetime(2026, 3, 2, 15, 30, tzinfo=UTC), datetime(2026, 3, 2, 16, 0, tzinfo=UTC)]


def test_activate_refuses_a_once_task_whose_time_has_passed(db_engine: Engine) -> None:
    task = create_task(db_engine, once_spec(NOW + timedelta(minutes=10)), NOW)
    set_inactive(db_engine, task.id, NOW)
    before = stored(db_engine, tasks)
    with pytest.raises(FieldProblem) as refused:
        set_active(db_engine, task.id, NOW + timedelta(minutes=10))
    assert refused.value.field == "run_at"
    assert stored(db_engine, tasks) == before
    assert set_active(db_engine, task.id, NOW + timedelta(minutes=9)).active is True
    with pytest.raises(TaskNotFound):
        set_active(db_engine, 424242, NOW)


# -- task types ---------------------------------------------------------------------------


def invoice(**overrides: Any) -> TaskTypeInput:
    fields = {
        "name": "invoice",
        "description": "bills",
        "handler": "invoice_plugin",
        "expected_duration_ms": 2_500,
        "timeout_ms": 60_000,
        "max_attempts": 5,
        "config": {"retry_base_ms": 2_000, "retry_max_ms": 60_000, "url": "https://billing.example.org"},
    }
    return TaskTypeInput.model_validate(fields | overrides)


def test_a_created_task_type_is_listed_and_tasks_can_use_it(db_engine: Engine) -> None:
    created = create_task_type(db_engine, invoice(), HANDLERS)
    assert created == get_task_type(db_engine, "invoice")
    assert created.config == {
        "retry_base_ms": 2_000,
        "retry_max_ms": 60_000,
        "url": "https://billing.example.org",
    }
    assert [row.name for row in list_task_types(db_engine)] == ["http", "invoice", "notification", "reminder"]
    spec = TaskInput.model_validate({"name": "monthly", "task_type": "invoice", "kind": "immediate"})
    assert create_task(db_engine, spec, NOW).task_type == "invoice"


def test_creation_refuses_an_unregistered_handler_and_a_taken_name(db_engine: Engine) -> None:
    before = stored(db_engine, task_types)
    with pytest.raises(FieldProblem) as refused:
        create_task_type(db_engine, invoice(handler="invoice_plugin"), {"http"})
    assert refused.value.field == "handler" and "invoice_plugin" in refused.value.message
    with pytest.raises(TaskTypeExists):
        create_task_type(db_engine, invoice(name="http", handler="http"), HANDLERS)
    assert stored(db_engine, task_types) == before


def test_edit_changes_the_given_fields_and_merges_retry_settings(db_engine: Engine) -> None:
    create_task_type(db_engine, invoice(), HANDLERS)
    edited = edit_task_type(db_engine, "invoice", {"timeout_ms": 5_000}, HANDLERS, {"retry_max_ms": 9_000})
    assert (edited.timeout_ms, edited.expected_duration_ms, edited.max_attempts, edited.description) == (
        5_000,
        2_500,
        5,
        "bills",
    )
    assert edited.config == {
        "retry_base_ms": 2_000,
        "retry_max_ms": 9_000,
        "url": "https://billing.example.org",
    }
    replaced = edit_task_type(db_engine, "invoice", {"config": {}}, HANDLERS, {"retry_base_ms": 10})
    assert replaced.config == {"retry_base_ms": 10}


def test_an_unchanged_handler_need_not_be_registered_here(db_engine: Engine) -> None:
    # The plug-in may be installed only where the processors run.
    create_task_type(db_engine, invoice(), HANDLERS)
    assert edit_task_type(db_engine, "invoice", {"max_attempts": 2}, {"http"}).max_attempts == 2
    with pytest.raises(FieldProblem):
        edit_task_type(db_engine, "invoice", {"handler": "elsewhere"}, {"http"})


@pytest.mark.parametrize(
    ("changes", "updates", "field", "words"),
    [
        ({"expected_duration_ms": -1}, {}, "expected_duration_ms", "greater than or equal to 0"),
        ({"timeout_ms": 0}, {}, "timeout_ms", "greater than or equal to 1"),
        ({"max_attempts": 0}, {}, "max_attempts", "greater than or equal to 1"),
        ({"handler": "nope"}, {}, "handler", "no handler named 'nope'"),
        ({}, {"retry_base_ms": -5}, "config", "retry_base_ms must be a whole number"),
        ({}, {"retry_max_ms": 100}, "config", "retry_max_ms must not be smaller than retry_base_ms"),
        ({"config": {"headers": {"x": 1}}}, {}, "config", "headers must be an object of text"),
        ({"description": "a\x00b"}, {}, "description", "NUL"),
    ],
)
def test_a_refused_task_type_edit_names_the_field_and_changes_nothing(
    db_engine: Engine, changes: dict[str, Any], updates: dict[str, Any], field: str, words: str
) -> None:
    create_task_type(db_engine, invoice(), HANDLERS)
    before = stored(db_engine, task_types)
    with pytest.raises(FieldProblem) as refused:
        edit_task_type(db_engine, "invoice", changes, HANDLERS, updates)
    assert (refused.value.field, words in refused.value.message) == (field, True), refused.value
    assert stored(db_engine, task_types) == before


def test_replace_keeps_the_name_and_resets_what_is_left_out(db_engine: Engine) -> None:
    create_task_type(db_engine, invoice(), HANDLERS)
    definition = TaskTypeDefinition(handler="http", expected_duration_ms=10, timeout_ms=1_000)
    replaced = replace_task_type(db_engine, "invoice", definition, HANDLERS)
    assert (
        replaced.name,
        replaced.handler,
        replaced.max_attempts,
        replaced.config,
        replaced.description,
    ) == (
        "invoice",
        "http",
        3,
        {},
        "",
    )
    with pytest.raises(TaskTypeNotFound):
        replace_task_type(db_engine, "nothing", definition, HANDLERS)
    with pytest.raises(TaskTypeNotFound):
        edit_task_type(db_engine, "nothing", {"timeout_ms": 5}, HANDLERS)
