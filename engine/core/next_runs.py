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


def next_run(
    kind: TaskKind,
    active: bool,
    now: datetime,
    *,
    cron: CronSchedule | None = None,
    run_at: datetime | None = None,
    pending_run: datetime | None = None,
) -> datetime | None:
    """The instant the task runs next, UTC, as the task list shows it; None when nothing is
    ahead of an inactive or finished task.

    The earlier of the task's earliest pending `Scheduled` row (which may lie before `now`:
    the run is overdue, nothing has started it yet) and its next run from the definition
    (`upcoming_runs`). The schedule rows reach only the Scheduler's horizon, so a nightly
    cron task past its day's last row still has a next run: `30 23 * * *` at 23:45 UTC
    with no row left is 23:30 UTC tomorrow, while a row at 23:30 today nobody started makes
    it 23:30 today (overdue).
    """
    if not active:
        return None
    ahead = upcoming_runs(kind, active, now, cron=cron, run_at=run_at, pending_run=pending_run, count=1)
    candidates = [instant.astimezone(UTC) for instant in (*ahead, pending_run) if instant is not None]
    return min(candidates, default=None)
