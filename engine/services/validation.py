"""Turn pydantic's validation errors into `FieldProblem`s that name the field a user gave."""

from __future__ import annotations

from pydantic import ValidationError

from engine.services.schemas import FieldProblem


def field_problems(error: ValidationError) -> list[FieldProblem]:
    """One problem per error. Model-level checks (`field_problem` errors) carry the field they
    are about in their context; field-level errors name it in their location.

    Example: a cron task without an expression gives
    `[FieldProblem("cron_expression", "a cron task needs cron_expression")]`.
    """
    problems = []
    for item in error.errors():
        context = item.get("ctx") or {}
        if item["type"] == "field_problem" and "field" in context:
            problems.append(FieldProblem(str(context["field"]), str(context["message"])))
            continue
        field = ".".join(str(part) for part in item["loc"]) or "task"
        message = str(item["msg"])
        if message.startswith(("Value error, ", "Assertion failed, ")):
            message = message.split(", ", 1)[1]
        problems.append(FieldProblem(field, message))
    return problems
