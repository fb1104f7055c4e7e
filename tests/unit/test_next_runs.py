"""A task's upcoming runs, from the pure core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.core.cron import CronSchedule
from engine.core.next_runs import next_run, upcoming_runs
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


END_OF_DAY = datetime(2026, 3, 2, 23, 45, tzinfo=UTC)


def test_next_run_of_a_nightly_task_after_the_days_last_row_is_tomorrow() -> None:
    nightly = CronSchedule("30 23 * * *")
    assert next_run(TaskKind.CRON, True, END_OF_DAY, cron=nightly) == datetime(2026, 3, 3, 23, 30, tzinfo=UTC)


def test_next_run_is_an_overdue_pending_row_before_the_definitions_next_fire() -> None:
    nightly = CronSchedule("30 23 * * *")
    overdue = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert next_run(TaskKind.CRON, True, END_OF_DAY, cron=nightly, pending_run=overdue) == overdue


def test_next_run_of_once_immediate_and_inactive_tasks() -> None:
    later = END_OF_DAY + timedelta(minutes=30)
    assert next_run(TaskKind.ONCE, True, END_OF_DAY, run_at=later) == later
    assert next_run(TaskKind.ONCE, True, END_OF_DAY, run_at=END_OF_DAY - timedelta(hours=1)) is None
    assert next_run(TaskKind.IMMEDIATE, True, END_OF_DAY, pending_run=END_OF_DAY) == END_OF_DAY
    assert next_run(TaskKind.IMMEDIATE, True, END_OF_DAY) is None
    assert next_run(TaskKind.CRON, False, END_OF_DAY, cron=CronSchedule("* * * * *")) is None
