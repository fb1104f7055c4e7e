"""The task a user asks for, validated the same way for the API, CLI and dashboard.

Every problem is reported on the field it is about (the API's 422 names it in `loc`), and
every check is bounded: strings and payloads have size limits, cron parsing is the core's.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from engine.core.cron import CronError, parse_schedule
from engine.core.types import TaskKind

MAX_NAME_LENGTH = 200
MAX_TASK_TYPE_LENGTH = 64
MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64
MAX_PAYLOAD_DEPTH = 32
MAX_PAYLOAD_BYTES = 256 * 1024


def check_storable(value: str) -> str:
    """Refuse what the databases cannot keep as given: PostgreSQL text cannot hold NUL, and a
    lone UTF-16 surrogate (valid in JSON's \\ud800 escape) has no UTF-8 encoding."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "unpaired_surrogate", "must not contain an unpaired UTF-16 surrogate"
        ) from None
    return value


# Exactly JSON strings (strict: no number read as text), bounded, and storable.
NameText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_NAME_LENGTH),
    AfterValidator(check_storable),
]
TaskTypeText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_TASK_TYPE_LENGTH),
    AfterValidator(check_storable),
]
CronText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_CRON_LENGTH),
    AfterValidator(check_storable),
]
TimezoneText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_TIMEZONE_LENGTH),
    AfterValidator(check_storable),
]


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Bounded walk of the payload: depth, storable strings and keys, finite numbers, size.

    JSON's `1e400` parses to infinity and `NaN` is accepted by Python's parser; neither can
    be stored as JSON, so both are refused here rather than failing in the database.
    """
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_PAYLOAD_DEPTH:
                raise PydanticCustomError(
                    "payload_too_deep", "nests deeper than {limit} levels", {"limit": MAX_PAYLOAD_DEPTH}
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_payload_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            _check_payload_text(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("non_finite_number", "numbers must be finite (no NaN or Infinity)")
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise PydanticCustomError(
            "payload_too_large",
            "is {size} bytes as JSON, more than {limit}",
            {"size": size, "limit": MAX_PAYLOAD_BYTES},
        )
    return payload


def _check_payload_text(value: str) -> None:
    try:
        check_storable(value)
    except PydanticCustomError as error:
        raise PydanticCustomError(error.type, "strings " + error.message()) from None


def _refuse_numbers(value: Any) -> Any:
    # Pydantic would read a number as a Unix timestamp; the contract is ISO-8601 text.
    if isinstance(value, int | float):
        raise PydanticCustomError("datetime_type", "must be an ISO-8601 string with an offset")
    return value


class TaskInput(BaseModel):
    """A task as created (POST) or replaced (PUT).

    `cron` tasks need `cron_expression` (and `timezone`, default UTC); `once` tasks need
    `run_at` with an offset; `immediate` tasks need neither. Fields that do not belong to the
    kind are refused rather than silently ignored. Strings are kept exactly as given.

    The kind-specific rules are field validators run after `kind` (fields validate in the
    order declared, `validate_default` makes them run when the field is absent), so an error
    is reported on `cron_expression` or `run_at`, not on the model as a whole.
    """

    model_config = ConfigDict(extra="forbid")

    name: NameText
    task_type: TaskTypeText
    kind: TaskKind
    cron_expression: CronText | None = Field(None, validate_default=True)
    timezone: TimezoneText | None = Field(None, validate_default=True)
    run_at: Annotated[AwareDatetime | None, BeforeValidator(_refuse_numbers)] = Field(
        None, validate_default=True
    )
    payload: Annotated[dict[str, Any], AfterValidator(check_payload)] = Field(default_factory=dict)
    active: StrictBool = True

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "name must not be blank")
        return value

    @field_validator("cron_expression")
    @classmethod
    def _cron_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        _check_belongs(info, "cron_expression", value, TaskKind.CRON, "a cron task needs cron_expression")
        if value is None:
            return None
        try:
            parse_schedule(value, "UTC")
        except CronError as error:
            raise PydanticCustomError("cron_expression", "{reason}", {"reason": error.message}) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_fits_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        _check_belongs(info, "timezone", value, TaskKind.CRON, None)
        if value is None:
            return "UTC" if info.data.get("kind") is TaskKind.CRON else None
        try:
            parse_schedule("* * * * *", value)
        except CronError as error:
            raise PydanticCustomError("timezone", "{reason}", {"reason": error.message}) from None
        except OSError:
            # A directory of the zone database ("Europe") is not a zone either.
            reason = f"unknown timezone {value!r}"
            raise PydanticCustomError("timezone", "{reason}", {"reason": reason}) from None
        return value

    @field_validator("run_at")
    @classmethod
    def _run_at_fits_kind(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        _check_belongs(
            info, "run_at", value, TaskKind.ONCE, "a once task needs run_at (ISO-8601 with offset)"
        )
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError("datetime_range", "is outside the representable range") from None


def _check_belongs(
    info: ValidationInfo, field: str, value: object, owner: TaskKind, missing_message: str | None
) -> None:
    """`field` is required by (missing_message set) and only allowed for the `owner` kind. An
    invalid kind is reported on its own; the field is then only checked for itself."""
    kind = info.data.get("kind")
    if kind is None:
        return
    if kind is owner and value is None and missing_message is not None:
        raise PydanticCustomError("missing", missing_message)
    if kind is not owner and value is not None:
        raise PydanticCustomError(
            "not_for_kind", "{field} is only for {owner} tasks", {"field": field, "owner": owner.value}
        )


class FieldProblem(ValueError):
    """A field the user gave that cannot be accepted, with a message that says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_run_at_in_future(run_at: datetime | None, now: datetime) -> None:
    if run_at is not None and run_at <= now:
        raise FieldProblem("run_at", f"run_at {run_at.isoformat()} is not in the future")
