"""The task a user asks for, validated the same way for the API, CLI and dashboard.

Every problem is reported on the field it is about (the API's 422 names it in `loc`), and
every check is bounded: strings and payloads have size limits, cron parsing is the core's.
"""

from __future__ import annotations

import json
import math
import re
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
from engine.core.dependencies import DependencyTrigger
from engine.core.policies import MisfirePolicy, OverlapPolicy, combination_problem
from engine.core.types import TaskKind

MAX_NAME_LENGTH = 200
MAX_TASK_TYPE_LENGTH = 64
MAX_CRON_LENGTH = 256
MAX_TIMEZONE_LENGTH = 64
MAX_PAYLOAD_DEPTH = 32
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_GRACE_S = 366 * 24 * 3600
# The task type's limits (timeout_ms is an INTEGER of milliseconds; MAX_ATTEMPTS_LIMIT below).
MAX_TIMEOUT_S = (2**31 - 1) // 1000
MAX_TASK_ATTEMPTS = 1_000


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
OrderingKeyText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=200),
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


class AfterInput(BaseModel):
    """What an `after` task waits for: a run of task `task_id` that ends as `on` says
    (`success`: Succeeded; `finished`: Succeeded, failed for good or Dead)."""

    model_config = ConfigDict(extra="forbid")

    task_id: Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]
    on: DependencyTrigger = DependencyTrigger.SUCCESS


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
    # Scheduling policies of a cron task (engine.core.policies, docs/scheduling.md).
    overlap_policy: OverlapPolicy = Field(OverlapPolicy.ALLOW, validate_default=True)
    misfire_policy: MisfirePolicy = Field(MisfirePolicy.RUN_ALL, validate_default=True)
    misfire_grace_s: Annotated[int | None, Field(strict=True, ge=0, le=MAX_GRACE_S)] = Field(
        None, validate_default=True
    )
    # Overrides of the task type's timeout and attempt budget for this task; None: the type's.
    timeout_s: Annotated[int | None, Field(strict=True, ge=1, le=MAX_TIMEOUT_S)] = None
    max_attempts: Annotated[int | None, Field(strict=True, ge=1, le=MAX_TASK_ATTEMPTS)] = None
    # Tasks sharing a key start one at a time in scheduled order (docs/scheduling.md).
    ordering_key: OrderingKeyText | None = Field(None, validate_default=True)
    # An `after` task's upstream (engine.core.dependencies, docs/scheduling.md).
    after: AfterInput | None = Field(None, validate_default=True)

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

    @field_validator("overlap_policy")
    @classmethod
    def _overlap_fits_kind(cls, value: OverlapPolicy, info: ValidationInfo) -> OverlapPolicy:
        _check_policies(info, value, MisfirePolicy.RUN_ALL, None)
        return value

    @field_validator("misfire_policy")
    @classmethod
    def _misfire_fits_kind(cls, value: MisfirePolicy, info: ValidationInfo) -> MisfirePolicy:
        _check_policies(info, OverlapPolicy.ALLOW, value, None)
        return value

    @field_validator("ordering_key")
    @classmethod
    def _ordering_key_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError("blank", "ordering_key must not be blank")
        return value

    @field_validator("after")
    @classmethod
    def _after_fits_kind(cls, value: AfterInput | None, info: ValidationInfo) -> AfterInput | None:
        _check_belongs(info, "after", value, TaskKind.AFTER, "an after task needs after: {task_id, on}")
        return value

    @field_validator("misfire_grace_s")
    @classmethod
    def _grace_fits_misfire(cls, value: int | None, info: ValidationInfo) -> int | None:
        misfire = info.data.get("misfire_policy")
        if misfire is not None:
            _check_policies(info, OverlapPolicy.ALLOW, misfire, value)
        return value


def _check_policies(
    info: ValidationInfo, overlap: OverlapPolicy, misfire: MisfirePolicy, misfire_grace_s: int | None
) -> None:
    """The core's `combination_problem`, on the field being validated (an invalid kind is
    reported on its own)."""
    kind = info.data.get("kind")
    if kind is None:
        return
    problem = combination_problem(kind.value, overlap, misfire, misfire_grace_s)
    if problem is not None:
        raise PydanticCustomError("policy_combination", "{reason}", {"reason": problem[1]})


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


# Task types: the same limits as the schema's CHECKs (sql/<dialect>/0001_schema.sql), so a
# refusal names the field instead of surfacing as a constraint violation.
TASK_TYPE_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
MAX_DESCRIPTION_LENGTH = 1_000
MAX_HANDLER_LENGTH = 200
MAX_INT32 = 2**31 - 1
MAX_ATTEMPTS_LIMIT = 1_000
# Keys of a task type's config that Headway itself reads, with what each must hold.
RETRY_CONFIG_KEYS = ("retry_base_ms", "retry_max_ms")
TEXT_CONFIG_KEYS = ("url", "method")


def check_task_type_name(value: str) -> str:
    if re.fullmatch(TASK_TYPE_NAME_PATTERN, value) is None:
        raise PydanticCustomError(
            "task_type_name", "must be a lower-case letter followed by up to 63 of a-z, 0-9, _, . and -"
        )
    return value


TaskTypeName = Annotated[
    str,
    StringConstraints(strict=True),
    AfterValidator(check_task_type_name),
    Field(json_schema_extra={"pattern": TASK_TYPE_NAME_PATTERN}, examples=["invoice"]),
]
DescriptionText = Annotated[
    str, StringConstraints(strict=True, max_length=MAX_DESCRIPTION_LENGTH), AfterValidator(check_storable)
]
HandlerText = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=MAX_HANDLER_LENGTH),
    AfterValidator(check_storable),
]


def check_task_type_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config is bounded like a payload; the keys Headway reads must hold what it expects:
    `retry_base_ms` and `retry_max_ms` whole milliseconds, not negative, the base no larger
    than the cap; `url` and `method` text; `headers` an object of text. Other keys are the
    handler's own business and are kept as given.

    Example: `{"retry_base_ms": 500, "retry_max_ms": 10_000}` makes the delays before the 2nd,
    3rd and 4th attempts 500, 1000 and 2000 ms.
    """
    check_payload(config)
    for key in RETRY_CONFIG_KEYS:
        value = config.get(key)
        if key in config and (type(value) is not int or not 0 <= value <= MAX_INT32):
            raise _config_problem(key, f"must be a whole number of milliseconds from 0 to {MAX_INT32}")
    if config.get("retry_max_ms", MAX_INT32) < config.get("retry_base_ms", 0):
        raise _config_problem("retry_max_ms", "must not be smaller than retry_base_ms")
    for key in TEXT_CONFIG_KEYS:
        if key in config and (not isinstance(config[key], str) or not config[key]):
            raise _config_problem(key, "must be non-empty text")
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
        raise _config_problem("headers", "must be an object of text values")
    return config


def _config_problem(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("task_type_config", "{key} {message}", {"key": key, "message": message})


class TaskTypeDefinition(BaseModel):
    """What a task type is, apart from its name: the body of `PUT /task-types/{name}`, which
    replaces it (omitted optional fields take their defaults).

    `handler` names a registered handler (a built-in or a `headway.handlers` entry point);
    `expected_duration_ms` is what capacity planning assumes until runs are measured;
    `timeout_ms` bounds one attempt; `max_attempts` counts the first one. Retry backoff is
    set in `config` (`retry_base_ms`, `retry_max_ms`), as are an endpoint handler's `url`,
    `method` and `headers`.
    """

    model_config = ConfigDict(extra="forbid")

    description: DescriptionText = ""
    handler: HandlerText
    expected_duration_ms: Annotated[int, Field(strict=True, ge=0, le=MAX_INT32)]
    timeout_ms: Annotated[int, Field(strict=True, ge=1, le=MAX_INT32)]
    max_attempts: Annotated[int, Field(strict=True, ge=1, le=MAX_ATTEMPTS_LIMIT)] = 3
    config: Annotated[dict[str, Any], AfterValidator(check_task_type_config)] = Field(default_factory=dict)


class TaskTypeInput(TaskTypeDefinition):
    """A new task type (`POST /task-types`): its name and its definition."""

    name: TaskTypeName
