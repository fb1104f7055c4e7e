"""Which history rows may be removed by age. Pure.

A schedule row is history once nothing will ever change it again: it `Succeeded`, it
`Failed` for good (no retry pending), or a scheduling policy recorded it `Skipped`. Every
other row is still in flight or waits for a person: `Scheduled`, `Queued` and `Running` rows
have not finished, a `Failed` row with a retry pending has another attempt coming, and a
`Dead` row is a dead letter that `headway dlq replay` may still bring back, until someone
discards it (`headway dlq discard` sets `discarded_at`): from then on it is history too.
Rows in flight or waiting for a person are kept however old they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.core.types import ScheduleStatus

# Statuses a row may be pruned in; a Failed row only when no retry is pending.
FINAL_STATUSES = (ScheduleStatus.SUCCEEDED, ScheduleStatus.FAILED, ScheduleStatus.SKIPPED)


def retention_cutoff(now: datetime, retention: timedelta) -> datetime:
    """Rows finished before this instant are old enough to prune.

    Example: `retention_cutoff(2026-06-30T12:00Z, timedelta(days=30))` is 2026-05-31T12:00Z.
    """
    if retention <= timedelta(0):
        raise ValueError(f"retention must be positive, got {retention}")
    return now - retention


def is_prunable(
    status: ScheduleStatus | str,
    finished_at: datetime | None,
    now: datetime,
    retention: timedelta,
    *,
    retry_pending: bool = True,
    discarded_at: datetime | None = None,
) -> bool:
    """Whether a schedule row (with its runs) may be removed at `now`: it is final (see the
    module docstring) and finished strictly before `now - retention`.

    `retry_pending` says whether a `Failed` row has its next attempt on the way
    (`next_attempt_at` set); it defaults to True so that a caller who does not know keeps
    the row. Example, with a 30-day retention at 2026-06-30T12:00Z: a row `Succeeded` at
    2026-05-31T11:59Z is prunable, one `Succeeded` at 12:00Z is not (not older than 30
    days), a `Running` row never is, and a `Dead` row only once it was discarded
    (`discarded_at`) before the cutoff.
    """
    cutoff = retention_cutoff(now, retention)
    status = ScheduleStatus(status)
    if status is ScheduleStatus.DEAD:
        if finished_at is None or discarded_at is None:
            return False
        return finished_at < cutoff and discarded_at < cutoff
    if status not in FINAL_STATUSES or finished_at is None or finished_at >= cutoff:
        return False
    return status is not ScheduleStatus.FAILED or not retry_pending
