"""DST through the Scheduler, on PostgreSQL and SQLite: what lands in task_schedule.

Classic-cron policy (docs/cron.md): a fixed-hour job in a spring-forward gap runs once at the
end of the gap, in a fall-back overlap once at the first occurrence; a job whose hour field
starts with `*` runs every real hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from engine.processes.scheduler import run_pass
from tests.integration.helpers import add_cron_task, schedule_rows

pytestmark = pytest.mark.integration


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def times_of(engine: Engine, task_id: int) -> list[datetime]:
    return [row[1] for row in schedule_rows(engine, task_id)]


def between(times: list[datetime], start: datetime, end: datetime) -> list[datetime]:
    return [t for t in times if start <= t <= end]


def test_new_york_fall_back(db_engine: Engine) -> None:
    # 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:00-01:59 happens twice.
    now = utc(10, 31, 12)
    daily = add_cron_task(db_engine, now, "30 1 * * *", "America/New_York", name="daily")
    hourly = add_cron_task(db_engine, now, "30 * * * *", "America/New_York", name="hourly")
    half_hours_at_one = add_cron_task(db_engine, now, "*/30 1 * * *", "America/New_York", name="1am")
    run_pass(db_engine, now, window_hours=48)

    # First 01:30 only (EDT, 05:30Z); the next day 01:30 EST is 06:30Z.
    assert times_of(db_engine, daily.id) == [utc(11, 1, 5, 30), utc(11, 2, 6, 30)]
    assert between(times_of(db_engine, half_hours_at_one.id), utc(11, 1, 0), utc(11, 1, 12)) == [
        utc(11, 1, 5),
        utc(11, 1, 5, 30),
    ]
    # Every real hour: local 01:30 twice (05:30Z EDT and 06:30Z EST).
    assert between(times_of(db_engine, hourly.id), utc(11, 1, 3), utc(11, 1, 8)) == [
        utc(11, 1, 3, 30),
        utc(11, 1, 4, 30),
        utc(11, 1, 5, 30),
        utc(11, 1, 6, 30),
        utc(11, 1, 7, 30),
    ]


def test_sydney_spring_forward(db_engine: Engine) -> None:
    # 2026-10-04: 02:00 AEST (16:00Z on the 3rd) jumps to 03:00 AEDT; 02:xx does not exist.
    now = utc(10, 3, 6)
    daily = add_cron_task(db_engine, now, "30 2 * * *", "Australia/Sydney", name="daily")
    hourly = add_cron_task(db_engine, now, "0 * * * *", "Australia/Sydney", name="hourly")
    run_pass(db_engine, now, window_hours=36)

    # The missing 02:30 runs once, at the end of the gap (03:00 AEDT); the next day 02:30 AEDT.
    assert times_of(db_engine, daily.id) == [utc(10, 3, 16), utc(10, 4, 15, 30)]
    hourly_times = times_of(db_engine, hourly.id)
    assert between(hourly_times, utc(10, 3, 14), utc(10, 3, 18)) == [utc(10, 3, h) for h in range(14, 19)]
    assert all(b - a == timedelta(hours=1) for a, b in zip(hourly_times, hourly_times[1:], strict=False))


def test_sydney_fall_back(db_engine: Engine) -> None:
    # 2026-04-05: 03:00 AEDT (16:00Z on the 4th) falls back to 02:00 AEST; 02:xx happens twice.
    now = utc(4, 4, 6)
    daily = add_cron_task(db_engine, now, "30 2 * * *", "Australia/Sydney", name="daily")
    quarter = add_cron_task(db_engine, now, "*/15 * * * *", "Australia/Sydney", name="quarter")
    run_pass(db_engine, now, window_hours=36)

    assert times_of(db_engine, daily.id) == [utc(4, 4, 15, 30), utc(4, 5, 16, 30)]
    quarter_times = times_of(db_engine, quarter.id)
    # Every real quarter hour through the repeated hour: no gap, no double.
    assert all(b - a == timedelta(minutes=15) for a, b in zip(quarter_times, quarter_times[1:], strict=False))
    assert len(between(quarter_times, utc(4, 4, 15), utc(4, 4, 17))) == 9


def test_berlin_fall_back_and_spring_forward_share_one_expansion(db_engine: Engine) -> None:
    # 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00 CET.
    now = utc(10, 24, 12)
    first = add_cron_task(db_engine, now, "30 2 * * *", "Europe/Berlin", name="first")
    second = add_cron_task(db_engine, now, "30 2 * * *", "Europe/Berlin", name="second")
    hourly = add_cron_task(db_engine, now, "15 * * * *", "Europe/Berlin", name="hourly")
    result = run_pass(db_engine, now, window_hours=24)

    assert times_of(db_engine, first.id) == times_of(db_engine, second.id) == [utc(10, 25, 0, 30)]
    # 02:15 CEST (00:15Z) and 02:15 CET (01:15Z) both run.
    assert between(times_of(db_engine, hourly.id), utc(10, 24, 23), utc(10, 25, 2)) == [
        utc(10, 24, 23, 15),
        utc(10, 25, 0, 15),
        utc(10, 25, 1, 15),
    ]
    assert result.rows_inserted == 2 + 24
