"""Value types shared by every part of Headway. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TaskKind(StrEnum):
    IMMEDIATE = "immediate"
    CRON = "cron"
    ONCE = "once"
    AFTER = "after"  # no schedule of its own: runs after another task's run (engine.core.dependencies)


class ScheduleStatus(StrEnum):
    """Life of one `task_schedule` row, in the design's words."""

    SCHEDULED = "Scheduled"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DEAD = "Dead"
    SKIPPED = "Skipped"  # a policy decided not to run this fire time (engine.core.policies)


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One planned execution: which task type runs at which UTC instant."""

    scheduled_time: datetime
    task_type: str


@dataclass(frozen=True, slots=True)
class ScalingParameters:
    """How much work one processor instance takes per minute, and the head-room kept free."""

    capacity_ms: int = 10_000
    buffer: float = 0.10
