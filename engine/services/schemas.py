"""The task a user asks for, validated the same way for the API, CLI and dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.core.cron import CronError, parse_schedule
from engine.core.types import TaskKind

MAX_NAME_LENGTH = 200
MAX_TASK_TYPE_LENGTH = 64
MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64


class TaskInput(BaseModel):
    """A task as created (POST) or replaced (PUT).

    `cron` tasks need `cron_expression` (and `timezone`, default UTC); `once` tasks need
    `run_at` with an offset; `immediate` tasks need neither. Fields that do not belong to the
    kind are refused rather than silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    task_type: str = Field(min_length=1, max_length=MAX_TASK_TYPE_LENGTH)
    kind: TaskKind
    cron_expression: str | None = Field(None, max_length=MAX_CRON_LENGTH)
    timezone: str | None = Field(None, max_length=MAX_TIMEZONE_LENGTH)
    run_at: AwareDatetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "name must not be blank")
        return value

    @field_validator("cron_expression")
    @classmethod
    def _cron_valid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_schedule(value, "UTC")
        except CronError as error:
            raise PydanticCustomError("cron_expression", "{reason}", {"reason": error.message}) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_valid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_schedule("* * * * *", value)
        except CronError as error:
            raise PydanticCustomError("timezone", "{reason}", {"reason": error.message}) from None
        return value

    @model_validator(mode="after")
    def _fields_match_kind(self) -> TaskInput:
        if self.kind is TaskKind.CRON:
            if self.cron_expression is None:
                raise _field_error("cron_expression", "a cron task needs cron_expression")
            if self.timezone is None:
                self.timezone = "UTC"
        else:
            for field in ("cron_expression", "timezone"):
                if getattr(self, field) is not None:
                    raise _field_error(field, f"{field} is only for cron tasks")
        if self.kind is TaskKind.ONCE and self.run_at is None:
            raise _field_error("run_at", "a once task needs run_at (ISO-8601 with offset)")
        if self.kind is not TaskKind.ONCE and self.run_at is not None:
            raise _field_error("run_at", "run_at is only for once tasks")
        return self


class FieldProblem(ValueError):
    """A field the user gave that cannot be accepted, with a message that says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _field_error(field: str, message: str) -> PydanticCustomError:
    # Model-level checks report the field they are about, so the API's 422 names it.
    return PydanticCustomError("field_problem", "{field}: {message}", {"field": field, "message": message})


def check_run_at_in_future(run_at: datetime | None, now: datetime) -> None:
    if run_at is not None and run_at <= now:
        raise FieldProblem("run_at", f"run_at {run_at.isoformat()} is not in the future")
