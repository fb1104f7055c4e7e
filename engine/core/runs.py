"""Value types the processes exchange with their stores (`engine.ports`). Pure.

A scheduler pass reads `PendingTask`s and writes a `SchedulePlan`; a distributor claims
`TaskMessage`s (`engine.core.messages`) and gets a `Claim` back; a processor starts
`StartedRun`s and records `FinishedRun`s, and announces itself with a `Heartbeat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.core.execution import TaskContext
from engine.core.leases import StartDecision
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus, TaskKind


@dataclass(frozen=True, slots=True)
class PendingTask:
    """An active task whose schedule rows do not yet reach the horizon."""

    id: int
    kind: TaskKind
    cron_expression: str | None
    timezone: str | None
    run_at: datetime | None
    expand_from: datetime  # fire times after this instant are still missing
    # Its rows are claimed by engine.core.policies.decide_claims (not the default policies).
    claimed_by_policy: bool = False


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """What a scheduler pass writes for the tasks it locked: every (task, fire time) of
    `fire_times` (task ids x instants, one group per distinct expression, zone and start),
    the single rows of one-off tasks, and the instant up to which each task then has rows."""

    fire_times: Sequence[tuple[Sequence[int], Sequence[datetime]]] = ()
    single_rows: Sequence[tuple[int, datetime]] = ()
    marks: Sequence[tuple[int, datetime]] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """One distributor claim: the messages to publish for the rows now `Queued` under its
    lease, how many rows of expired claims went back to `Scheduled` first, and how many
    due rows a scheduling policy recorded `Skipped`."""

    messages: list[TaskMessage] = field(default_factory=list)
    swept: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class StartedRun:
    message: TaskMessage
    context: TaskContext
    handler: str
    started_at: datetime
    # The row's own scheduled time, as the start read it: with the schedule id, the row's
    # whole key (PostgreSQL's partition key), which the outcome's write names to find the
    # row in one week. A message may carry another time.
    scheduled_time: datetime


# The messages a start could not start, each with what to do with it instead.
NotStarted = list[tuple[TaskMessage, StartDecision]]


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """The outcome of one attempt, as recorded. `status` is Succeeded, Failed or Dead;
    `next_attempt_at` is set for a Failed row whose retry is on its way."""

    run: StartedRun
    status: ScheduleStatus
    finished_at: datetime
    elapsed_ms: int
    outcome: str
    output_excerpt: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    processor_id: str
    hostname: str
    pid: int
    concurrency: int
    started_at: datetime
