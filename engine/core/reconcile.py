"""Reconciliation: which rows have stopped moving, and what driving them on means. Pure.

The database is the only truth. A message can be lost whatever the processes do (a broker
that drops a dead-lettered message while its queue has no leader, a delay queue lost with
its node, a processor killed while its copy was parked), so every row that is not final and
has passed the instant by which it should have moved on is driven on:

- `Queued`, handed over to the broker (no lease) and not started `queued_after_s` after it
  was queued: its message may be gone;
- `Running` under a lease that has expired: its processor is dead (a live one renews the
  lease every heartbeat) and no copy of its message may be left to take it over;
- `Failed` with a retry whose message should have come back by now: `next_attempt_at` plus
  as long again (the delay queue's tier rounds the delay up to at most twice) plus
  `queued_after_s`.

Driving on is the distributor's usual path: the row goes back to `Scheduled`, keeping its
attempt count (a `Running` attempt never finished, so it runs again under the same number),
and the next claim publishes it with the same idempotency key. A stale copy of its message
that does turn up later finds the row started or finished and is dropped
(`engine.core.leases.decide_start`).

A row is only driven on when two looks at least `confirm_s` apart saw it stuck and
unchanged. After a database outage every lease has lapsed; the heartbeat of a processor
that is alive renews its leases within its interval, so the second look leaves its rows
alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from engine.core.types import ScheduleStatus


class StuckKind(StrEnum):
    QUEUED_UNSTARTED = "queued_unstarted"
    RUNNING_EXPIRED = "running_expired"
    RETRY_OVERDUE = "retry_overdue"


@dataclass(frozen=True, slots=True)
class RowSnapshot:
    """What the reconciliation reads of a schedule row."""

    id: int
    status: ScheduleStatus
    attempt: int
    claimed_by: str | None
    lease_expires_at: datetime | None
    queued_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None

    def fingerprint(self) -> tuple[object, ...]:
        """Everything a move of the row changes: equal fingerprints, no progress."""
        return (self.status, self.attempt, self.claimed_by, self.lease_expires_at, self.next_attempt_at)


def stuck_kind(row: RowSnapshot, now: datetime, queued_after_s: float) -> StuckKind | None:
    """Whether `row` has stopped moving at `now`, and how.

    With `queued_after_s` 600 and `now` 12:00: a `Queued` row without a lease queued at 11:49
    is QUEUED_UNSTARTED, one queued at 11:51 is not (yet); a `Running` row whose lease ended
    at 11:59:59 is RUNNING_EXPIRED; a `Failed` row that finished at 11:40 with its retry due
    at 11:44 is RETRY_OVERDUE from 11:58 (11:44 + 4 min + 10 min)."""
    after = timedelta(seconds=queued_after_s)
    if row.status is ScheduleStatus.QUEUED:
        if row.lease_expires_at is not None:  # claimed, not confirmed: the sweep's
            return None
        if row.queued_at is None or row.queued_at + after <= now:
            return StuckKind.QUEUED_UNSTARTED
        return None
    if row.status is ScheduleStatus.RUNNING:
        if row.lease_expires_at is None or row.lease_expires_at <= now:
            return StuckKind.RUNNING_EXPIRED
        return None
    if row.status is ScheduleStatus.FAILED and row.next_attempt_at is not None:
        delay = row.next_attempt_at - row.finished_at if row.finished_at else timedelta(0)
        if row.next_attempt_at + max(delay, timedelta(0)) + after <= now:
            return StuckKind.RETRY_OVERDUE
    return None


def attempt_after_redrive(row: RowSnapshot) -> int:
    """The attempt count a driven-on row goes back to `Scheduled` with: one less for a
    `Running` row (its attempt never finished; the next message runs it again under the same
    number), the same otherwise (the next message runs the next attempt)."""
    return row.attempt - 1 if row.status is ScheduleStatus.RUNNING else row.attempt


class StuckWatch:
    """Remembers rows seen stuck, to drive on only those seen stuck and unchanged again at
    least `confirm_s` later (monotonic seconds). Rows not seen stuck any more are forgotten.

    `w = StuckWatch(10)`: a row first seen at t=0 is not confirmed at t=0 nor t=5 (if
    unchanged), and is at t=10; had its lease been renewed at t=5, the clock restarts then."""

    def __init__(self, confirm_s: float) -> None:
        self.confirm_s = confirm_s
        self._seen: dict[int, tuple[tuple[object, ...], float]] = {}

    def confirm(self, rows: list[RowSnapshot], monotonic_now: float) -> list[RowSnapshot]:
        seen: dict[int, tuple[tuple[object, ...], float]] = {}
        confirmed = []
        for row in rows:
            fingerprint = row.fingerprint()
            previous = self._seen.get(row.id)
            first = previous[1] if previous is not None and previous[0] == fingerprint else monotonic_now
            seen[row.id] = (fingerprint, first)
            if monotonic_now - first >= self.confirm_s:
                confirmed.append(row)
        self._seen = seen
        return confirmed
