"""Leases and what a processor does with a message whose row it may or may not start. Pure.

A lease is an instant until which a claim holds: a distributor's on a `Queued` row it has not
yet seen confirmed by the broker, a processor's on a `Running` row (renewed by its heartbeat).
A lease in the past means its holder is presumed dead and the row may be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from engine.core.types import ScheduleStatus

# A deferred message comes back no sooner than this, so a busy duplicate does not spin.
MIN_DEFER_MS = 1_000
MAX_DEFER_MS = 60_000
DEFER_MARGIN_MS = 500
# start_lag_ms is an INT column: a start more than 24.8 days late records this.
MAX_LAG_MS = 2**31 - 1


def start_lag_ms(scheduled_time: datetime, started_at: datetime) -> int:
    """Milliseconds from the scheduled time to the start: 0 if early, at most MAX_LAG_MS."""
    return min(MAX_LAG_MS, max(0, int((started_at - scheduled_time).total_seconds() * 1000)))


def lease_until(now: datetime, lease_s: float) -> datetime:
    """`now + lease_s`: `lease_until(t, 30)` is t plus 30 seconds."""
    if lease_s <= 0:
        raise ValueError("a lease must be positive")
    return now + timedelta(seconds=lease_s)


def lease_expired(lease_expires_at: datetime | None, now: datetime) -> bool:
    """A missing lease never expires: it marks a row handed over for good (e.g. a `Queued`
    row whose message the broker confirmed)."""
    return lease_expires_at is not None and lease_expires_at <= now


@dataclass(frozen=True, slots=True)
class RowState:
    """What the processor reads of a schedule row before starting it."""

    status: ScheduleStatus
    attempt: int
    lease_expires_at: datetime | None
    next_attempt_at: datetime | None


class StartAction(StrEnum):
    START = "start"  # set Running, run the handler
    DEFER = "defer"  # another live processor runs it: look again after its lease
    RETRY_AGAIN = "retry_again"  # a retry was recorded but its message may be lost: resend
    DEAD_AGAIN = "dead_again"  # Dead was recorded but its DLQ copy may be lost: resend
    DROP = "drop"  # stale or duplicate message: acknowledge and forget


@dataclass(frozen=True, slots=True)
class StartDecision:
    action: StartAction
    reason: str = ""
    delay_ms: int = 0
    expected_status: ScheduleStatus | None = None  # the status a START replaces


def decide_start(row: RowState | None, attempt: int, now: datetime) -> StartDecision:
    """Given the row (None if deleted) and the message's 1-based `attempt`.

    - `Scheduled`/`Queued` with `row.attempt == attempt - 1`, or `Failed` with a retry pending
      and the same count: START (the normal path; `Scheduled` when a sweeper reset the row
      after a distributor crash but the message had gone out).
    - `Running` with `row.attempt == attempt` and an expired lease: START, taking over from a
      processor that died mid-task (the broker redelivered its unacknowledged message).
    - `Running` with a live lease: DEFER until the lease ends, e.g. a live lease ending in
      2 s gives `2_000 + 500` ms. The message is not dropped: if the holder dies, this copy
      may be the only one left.
    - `Failed` with a retry pending and `row.attempt == attempt`: RETRY_AGAIN; `Dead` with
      `row.attempt == attempt`: DEAD_AGAIN. Both repair a crash between recording the outcome
      and handing the message on.
    - Anything else is a stale or duplicate message: DROP.
    """
    if row is None:
        return StartDecision(StartAction.DROP, "row_missing")
    status = row.status
    retry_pending = status is ScheduleStatus.FAILED and row.next_attempt_at is not None
    if row.attempt == attempt - 1 and (
        status in (ScheduleStatus.SCHEDULED, ScheduleStatus.QUEUED) or retry_pending
    ):
        return StartDecision(StartAction.START, expected_status=status)
    if status is ScheduleStatus.RUNNING and row.attempt == attempt:
        if lease_expired(row.lease_expires_at, now):
            return StartDecision(StartAction.START, "takeover", expected_status=status)
        assert row.lease_expires_at is not None
        remaining_ms = int((row.lease_expires_at - now).total_seconds() * 1000) + DEFER_MARGIN_MS
        return StartDecision(
            StartAction.DEFER,
            "running_elsewhere",
            delay_ms=min(max(remaining_ms, MIN_DEFER_MS), MAX_DEFER_MS),
        )
    if retry_pending and row.attempt == attempt:
        assert row.next_attempt_at is not None
        delay_ms = max(0, int((row.next_attempt_at - now).total_seconds() * 1000))
        return StartDecision(StartAction.RETRY_AGAIN, "retry_resent", delay_ms=delay_ms)
    if status is ScheduleStatus.DEAD and row.attempt == attempt:
        return StartDecision(StartAction.DEAD_AGAIN, "dead_resent")
    return StartDecision(StartAction.DROP, f"stale: row is {status.value} at attempt {row.attempt}")
