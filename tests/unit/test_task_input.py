"""Task validation in the service layer: the same rules for the API, CLI and dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from engine.services.schemas import FieldProblem, TaskInput, check_run_at_in_future


def errors(**fields: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        TaskInput.model_validate(fields)
    return {".".join(map(str, error["loc"])): error["msg"] for error in caught.value.errors()}


def test_kind_rules_are_reported_on_the_field_they_are_about() -> None:
    assert errors(name="x", task_type="http", kind="cron") == {
        "cron_expression": "a cron task needs cron_expression"
    }
    assert errors(name="x", task_type="http", kind="once") == {
        "run_at": "a once task needs run_at (ISO-8601 with offset)"
    }
    assert errors(name="x", task_type="http", kind="immediate", cron_expression="* * * * *") == {
        "cron_expression": "cron_expression is only for cron tasks"
    }


def test_an_invalid_kind_is_reported_once_without_guessing_about_the_rest() -> None:
    assert set(errors(name="x", task_type="http", kind="weekly", run_at="2030-01-01T00:00:00Z")) == {"kind"}


def test_cron_timezone_defaults_to_utc_and_run_at_is_normalised_to_utc() -> None:
    cron = TaskInput.model_validate(
        {"name": "x", "task_type": "http", "kind": "cron", "cron_expression": "0 * * * *"}
    )
    assert cron.timezone == "UTC"
    once = TaskInput.model_validate(
        {"name": "x", "task_type": "http", "kind": "once", "run_at": "2030-01-01T09:00:00+09:00"}
    )
    assert once.run_at == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    assert once.run_at is not None and once.run_at.tzinfo is UTC


def test_strings_are_kept_exactly() -> None:
    task = TaskInput.model_validate({"name": "  padded\t", "task_type": "http", "kind": "immediate"})
    assert task.name == "  padded\t"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"a": float("nan")}, "finite"),
        ({"a": [float("inf")]}, "finite"),
        ({"a": "x\x00"}, "NUL"),
        ({"k\x00": 1}, "NUL"),
        ({"a": "\ud83d"}, "surrogate"),
    ],
)
def test_payload_values_no_database_can_store_are_refused(payload: dict[str, Any], message: str) -> None:
    assert message in errors(name="x", task_type="http", kind="immediate", payload=payload)["payload"]


def test_payload_depth_is_bounded_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = {"d": deep}
    assert "deeper than 32" in errors(name="x", task_type="http", kind="immediate", payload=deep)["payload"]
    shallow: Any = "leaf"
    for _ in range(31):
        shallow = {"d": shallow}
    assert TaskInput.model_validate(
        {"name": "x", "task_type": "http", "kind": "immediate", "payload": shallow}
    )


def test_run_at_must_be_after_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    check_run_at_in_future(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), now)
    with pytest.raises(FieldProblem) as caught:
        check_run_at_in_future(now, now)
    assert caught.value.field == "run_at"
