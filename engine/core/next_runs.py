"""A task's upcoming runs as a user sees them. Pure: `now` and the stored rows come in."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.core.cron import CronSchedule, next_fire_times
from engine.core.types import TaskKind


def upcoming_runs(
    kind: TaskKind,
    active: bool,
    now: datetime,
    *,
    cron: CronSchedule | None = None,
    run_at: datetime | None = None,
    pending_run: datetime | None = None,
    count: int = 5,
) -> list[datetime]:
    """Up to `count` instants, UTC, ascending, at which the task will run.

    - cron: the next fire times strictly after `now`, from the expression itself (not from
      the schedule rows, which only reach the Scheduler's horizon);
    - once: `[run_at]` while it is still ahead;
    - immediate: the pending `Scheduled` row, if there is one (it may be slightly past due).

    An inactive task has none. A stored expression the core can no longer expand (for
    example a zone removed from tzdata) has none rather than failing the read.
    Example: `*/15 * * * *` at 10:07 with count 2 gives 10:15 and 10:30.
    """
    if not active or count <= 0:
        return []
    if kind is TaskKind.CRON:
        if cron is None:
            return []
        try:
            return next_fire_times(cron, now, count)
        except ValueError:
            return []
    if kind is TaskKind.ONCE:
        return [run_at.astimezone(UTC)] if run_at is not None and run_at > now else []
    return [pending_run.astimezone(UTC)] if pending_run is not None else []
