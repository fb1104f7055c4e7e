"""A task's upcoming runs, from the pure core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.core.cron import CronSchedule
from engine.core.next_runs import upcoming_runs
from engine.core.types import TaskKind

NOW = datetime(2026, 3, 28, 23, 50, tzinfo=UTC)


def test_cron_gives_the_next_fire_times_strictly_after_now_in_utc() -> None:
    runs = upcoming_runs(TaskKind.CRON, True, NOW, cron=CronSchedule("*/15 * * * *"), count=3)
    assert runs == [datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 15, tzinfo=UTC),
                    datetime(2026, 3, 29, 0, 30, tzinfo=UTC)]  # fmt: skip
    assert all(run.utcoffset() == timedelta(0) for run in runs)


def test_cron_in_a_zone_across_the_spring_forward_gap() -> None:
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29: the 02:30 job runs at 03:00 CEST.
    runs = upcoming_runs(TaskKind.CRON, True, NOW, cron=CronSchedule("30 2 * * *", "Europe/Berlin"), count=2)
    assert runs == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]


def test_once_is_its_run_at_while_ahead() -> None:
    later = NOW + timedelta(hours=1)
    assert upcoming_runs(TaskKind.ONCE, True, NOW, run_at=later) == [later]
    assert upcoming_runs(TaskKind.ONCE, True, NOW, run_at=NOW) == []
    assert upcoming_runs(TaskKind.ONCE, True, NOW, run_at=NOW - timedelta(seconds=1)) == []


def test_immediate_is_its_pending_row_even_if_slightly_past_due() -> None:
    pending = NOW - timedelta(seconds=5)
    assert upcoming_runs(TaskKind.IMMEDIATE, True, NOW, pending_run=pending) == [pending]
    assert upcoming_runs(TaskKind.IMMEDIATE, True, NOW) == []


def test_an_inactive_task_has_no_upcoming_runs() -> None:
    assert upcoming_runs(TaskKind.CRON, False, NOW, cron=CronSchedule("* * * * *")) == []
    assert upcoming_runs(TaskKind.ONCE, False, NOW, run_at=NOW + timedelta(days=1)) == []
    assert upcoming_runs(TaskKind.IMMEDIATE, False, NOW, pending_run=NOW) == []


def test_a_stored_expression_that_no_longer_expands_gives_no_runs() -> None:
    assert upcoming_runs(TaskKind.CRON, True, NOW, cron=CronSchedule("* * * * *", "No/Such_Zone")) == []
