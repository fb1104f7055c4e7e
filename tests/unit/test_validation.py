from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from engine.services.schemas import TaskInput
from engine.services.validation import field_problems


def problems_of(**fields: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        TaskInput.model_validate(fields)
    return [(problem.field, problem.message) for problem in field_problems(raised.value)]


def test_field_errors_name_their_field() -> None:
    assert problems_of(name="n", task_type="http", kind="cron", cron_expression="61 * * * *") == [
        ("cron_expression", "minute field: 61 is out of range 0-59")
    ]


def test_model_level_errors_name_the_field_they_are_about() -> None:
    assert problems_of(name="n", task_type="http", kind="cron") == [
        ("cron_expression", "a cron task needs cron_expression")
    ]
    assert problems_of(
        name="n", task_type="http", kind="immediate", run_at=datetime(2030, 1, 1, tzinfo=UTC)
    ) == [("run_at", "run_at is only for once tasks")]


def test_every_field_error_is_listed() -> None:
    fields = [field for field, _ in problems_of(name="", task_type="", kind="weekly")]
    assert fields == ["name", "task_type", "kind"]
