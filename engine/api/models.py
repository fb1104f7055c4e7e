"""Request and response bodies of the REST API. Requests reuse the service layer's
validation (`TaskInput`); responses are built from the services' dataclasses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from engine.core.dependencies import DependencyTrigger
from engine.core.policies import MisfirePolicy, OverlapPolicy
from engine.core.types import TaskKind
from engine.services.schemas import TaskInput, TaskTypeDefinition, TaskTypeInput

TASK_EXAMPLES: list[JsonValue] = [
    {
        "name": "nightly report",
        "task_type": "http",
        "kind": "cron",
        "cron_expression": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "payload": {"url": "https://example.org/report", "method": "POST"},
    },
    {"name": "launch", "task_type": "reminder", "kind": "once", "run_at": "2030-12-01T09:00:00Z"},
    {"name": "welcome", "task_type": "notification", "kind": "immediate", "payload": {"user": 42}},
    {"name": "publish", "task_type": "http", "kind": "after", "after": {"task_id": 1, "on": "success"}},
]


class TaskCreate(TaskInput):
    """A new task. `cron` needs `cron_expression` (`timezone` defaults to UTC), `once` needs
    `run_at` (ISO-8601 with an offset, in the future), `after` needs `after: {task_id, on}`
    (an existing task, no cycle), `immediate` needs none of them."""

    model_config = ConfigDict(json_schema_extra={"examples": TASK_EXAMPLES})


class TaskUpdate(TaskInput):
    """A task's whole new definition (PUT replaces it: omitted optional fields take their
    defaults, so send `active: false` to keep an inactive task inactive)."""

    model_config = ConfigDict(json_schema_extra={"examples": TASK_EXAMPLES})


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AfterPublic(Public):
    task_id: int = Field(description="the upstream task")
    on: DependencyTrigger = Field(
        description="success: its run succeeded; finished: its run ended for good (succeeded, failed, dead)"
    )


class TaskPublic(Public):
    id: int
    name: str
    task_type: str
    kind: TaskKind
    cron_expression: str | None
    timezone: str | None
    run_at: datetime | None
    payload: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime
    next_run: datetime | None = Field(
        description="next run: from the cron expression or run_at, or an earlier `Scheduled` row "
        "not yet started (then it lies in the past: overdue)"
    )
    last_run_status: str | None = Field(description="status of the latest finished schedule row")
    last_run_at: datetime | None
    overlap_policy: OverlapPolicy
    misfire_policy: MisfirePolicy
    misfire_grace_s: int | None = Field(description="null: the default grace, 60 s")
    timeout_s: int | None = Field(description="null: the task type's timeout")
    max_attempts: int | None = Field(description="null: the task type's max_attempts")
    ordering_key: str | None = Field(description="tasks sharing it start one at a time, in scheduled order")
    after: AfterPublic | None = Field(description="an after task's upstream: it runs after that task's runs")
    warnings: list[str] = Field(
        default_factory=list,
        description="why a dependency will not fire: an inactive or deleted upstream, or the active "
        "dependents of an inactive task (read with one task only; empty in lists)",
    )
    dependents: list[int] = Field(
        default_factory=list,
        description="ids of the after tasks that follow this task's runs (read with one task only; "
        "empty in lists)",
    )


class TaskDetail(TaskPublic):
    next_runs: list[datetime] = Field(description="the next (up to) 5 runs, UTC")


class TaskPage(BaseModel):
    items: list[TaskPublic]
    total: int


class RunPublic(Public):
    id: int
    schedule_id: int | None
    attempt: int
    status: str = Field(description="Running, Succeeded or Failed")
    outcome: str | None = Field(description="the Processor's reason: succeeded, http_status, timeout, ...")
    started_at: datetime
    finished_at: datetime | None
    elapsed_ms: int | None
    output_excerpt: str | None
    error: str | None


class RunPage(BaseModel):
    items: list[RunPublic]
    total: int


class RunRequested(BaseModel):
    schedule_id: int
    task_id: int
    scheduled_time: datetime


TASK_TYPE_EXAMPLE: dict[str, JsonValue] = {
    "description": "Posts the invoice run to the billing service",
    "handler": "http",
    "expected_duration_ms": 2500,
    "timeout_ms": 60000,
    "max_attempts": 5,
    "config": {"retry_base_ms": 2000, "retry_max_ms": 60000},
}


class TaskTypeCreate(TaskTypeInput):
    """A new task type. `handler` must be registered (a built-in or a `headway.handlers`
    entry point); retry backoff goes in `config` as `retry_base_ms` and `retry_max_ms`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "invoice", **TASK_TYPE_EXAMPLE}]})


class TaskTypeUpdate(TaskTypeDefinition):
    """A task type's whole new definition (PUT replaces it; the name is the path's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [TASK_TYPE_EXAMPLE]})


class TaskTypePublic(Public):
    name: str
    description: str
    handler: str
    expected_duration_ms: int
    timeout_ms: int
    max_attempts: int
    config: dict[str, Any] = Field(
        description="handler settings and retry backoff (retry_base_ms, retry_max_ms)"
    )


class MinuteSummaryPublic(Public):
    scheduled_time: datetime
    task_count: int
    total_compute_ms: int
    required_instances: int


class TypeSummaryPublic(Public):
    task_type: str
    avg_elapsed_ms: int
    run_count: int


class ForecastMinutePublic(Public):
    minute: datetime
    task_count: int
    total_compute_ms: int
    required_instances: int


class ForecastPublic(BaseModel):
    hours: float
    capacity_ms: int
    buffer: float
    current_instances: int = Field(
        description="the formula's instances running now: worker slots, the concurrency of the "
        "processors with a heartbeat in the last 30 s added up (one slot runs one task at a time)"
    )
    live_processors: int = Field(description="processors with a heartbeat in the last 30 s")
    minutes: list[ForecastMinutePublic]


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["up", "down"]
    broker: Literal["up", "down"]
    problems: list[str] = Field(description="what is down and why, e.g. `broker: AMQPConnectionError`")


class ErrorMessage(BaseModel):
    detail: str


class ProcessorsTargetPublic(BaseModel):
    """What KEDA's `metrics-api` scaler reads: `valueLocation: processors` (with
    `targetValue: "1"`, the replicas become this number)."""

    processors: int = Field(description="processors to run now: ceil(worker_slots / concurrency)")
    worker_slots: int = Field(description="highest required instances from now - cooldown to now + lead")
    concurrency: int = Field(description="worker slots per processor (HEADWAY_PROCESSOR_CONCURRENCY)")
    lead_minutes: int
    cooldown_minutes: int
    window_start: datetime = Field(description="first minute considered (now - cooldown)")
    window_end: datetime = Field(description="end of the last minute considered (now + lead + 1 minute)")
    peak_minute: datetime | None = Field(description="first minute needing worker_slots; null: none needed")


class DeadLetterSelection(BaseModel):
    """Dead letters to replay or discard, by schedule row id (`GET /dead-letters`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"schedule_ids": [41, 42]}]})

    schedule_ids: list[Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]] = Field(
        min_length=1, max_length=1_000, description="schedule row ids, 1 to 1,000 of them"
    )


class DeadLetterPublic(Public):
    schedule_id: int
    task_type: str
    attempt: int = Field(description="attempts used")
    reason: str = Field(description="the last attempt's error")
    finished_at: datetime | None = Field(description="when the last attempt ended")
    discarded_at: datetime | None = Field(description="when it was discarded; null: a live dead letter")


class DeadLetterPage(BaseModel):
    items: list[DeadLetterPublic]
    total: int


class ReplayPublic(BaseModel):
    replayed: int = Field(description="rows set back to Scheduled with a fresh set of attempts")
    already_replayed: int = Field(description="messages removed whose row was no longer Dead")
    not_dead: list[int] = Field(
        description="rows asked for that were no dead letter by the time of the replay"
    )
    discarded: list[int] = Field(description="rows asked for that were discarded by the time of the replay")


class DiscardPublic(BaseModel):
    discarded: int = Field(description="rows marked discarded; their messages removed")
    stale: int = Field(description="messages removed whose row was no longer a dead letter")
    not_dead: list[int] = Field(
        description="rows asked for that were no dead letter by the time of the discard"
    )
