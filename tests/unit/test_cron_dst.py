"""Cron expansion across DST transitions: the policy of docs/cron.md, zone by zone.

Expected fire times are local wall times with their offset, so each names one instant.
Fixed-hour jobs (hour field not starting with `*`) fire once in a gap, at its end, and once in
an overlap, at the first occurrence; `*`-hour jobs follow the real hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.cron import CronSchedule, fire_times, next_fire_times


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local_fires(expression: str, zone: str, after: str, until: str) -> list[str]:
    result = fire_times(CronSchedule(expression, zone), utc(after), utc(until))
    return [t.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes") for t in result]


BERLIN, NEW_YORK, SYDNEY = "Europe/Berlin", "America/New_York", "Australia/Sydney"
LORD_HOWE, SANTIAGO = "Australia/Lord_Howe", "America/Santiago"

CASES = [
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    ("30 2 * * *", BERLIN, "2026-03-28 12:00", "2026-03-30 12:00",
     ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"]),
    ("*/15 2 * * *", BERLIN, "2026-03-28 23:00", "2026-03-29 23:00",
     ["2026-03-29T03:00+02:00"]),
    ("0 2,3 * * *", BERLIN, "2026-03-28 23:00", "2026-03-29 23:00",
     ["2026-03-29T03:00+02:00"]),
    ("*/30 * * * *", BERLIN, "2026-03-29 00:00", "2026-03-29 02:00",
     ["2026-03-29T01:30+01:00", "2026-03-29T03:00+02:00", "2026-03-29T03:30+02:00",
      "2026-03-29T04:00+02:00"]),
    ("0 */2 * * *", BERLIN, "2026-03-28 22:30", "2026-03-29 03:00",
     ["2026-03-29T00:00+01:00", "2026-03-29T04:00+02:00"]),
    # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:00-02:59 happens twice.
    ("30 2 * * *", BERLIN, "2026-10-24 12:00", "2026-10-26 12:00",
     ["2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"]),
    ("*/20 2 * * *", BERLIN, "2026-10-24 12:00", "2026-10-25 12:00",
     ["2026-10-25T02:00+02:00", "2026-10-25T02:20+02:00", "2026-10-25T02:40+02:00"]),
    ("*/30 * * * *", BERLIN, "2026-10-24 23:00", "2026-10-25 02:00",
     ["2026-10-25T01:30+02:00", "2026-10-25T02:00+02:00", "2026-10-25T02:30+02:00",
      "2026-10-25T02:00+01:00", "2026-10-25T02:30+01:00", "2026-10-25T03:00+01:00"]),
    ("0 */2 * * *", BERLIN, "2026-10-24 21:30", "2026-10-25 04:00",
     ["2026-10-25T00:00+02:00", "2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00",
      "2026-10-25T04:00+01:00"]),
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 2026-11-01: 01:00-01:59 twice.
    ("0 2 * * *", NEW_YORK, "2026-03-07 12:00", "2026-03-09 12:00",
     ["2026-03-08T03:00-04:00", "2026-03-09T02:00-04:00"]),
    ("15 * * * *", NEW_YORK, "2026-03-08 06:00", "2026-03-08 08:00",
     ["2026-03-08T01:15-05:00", "2026-03-08T03:15-04:00"]),
    ("30 1 * * *", NEW_YORK, "2026-10-31 12:00", "2026-11-02 12:00",
     ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"]),
    ("30 * * * *", NEW_YORK, "2026-11-01 04:00", "2026-11-01 07:00",
     ["2026-11-01T00:30-04:00", "2026-11-01T01:30-04:00", "2026-11-01T01:30-05:00"]),
    # Sydney, southern hemisphere: 2026-10-04 02:00 -> 03:00; 2026-04-05 03:00 -> 02:00.
    ("30 2 * * *", SYDNEY, "2026-10-03 00:00", "2026-10-05 00:00",
     ["2026-10-04T03:00+11:00", "2026-10-05T02:30+11:00"]),
    ("30 2 * * *", SYDNEY, "2026-04-04 00:00", "2026-04-06 00:00",
     ["2026-04-05T02:30+11:00", "2026-04-06T02:30+10:00"]),
    ("30 * * * *", SYDNEY, "2026-04-04 14:00", "2026-04-04 17:00",
     ["2026-04-05T01:30+11:00", "2026-04-05T02:30+11:00", "2026-04-05T02:30+10:00"]),
    # Lord Howe shifts by 30 minutes: 2026-10-04 02:00 -> 02:30; 2026-04-05 02:00 -> 01:30.
    ("0 2 * * *", LORD_HOWE, "2026-10-03 00:00", "2026-10-04 12:00",
     ["2026-10-04T02:30+11:00"]),
    ("*/15 2 * * *", LORD_HOWE, "2026-10-03 00:00", "2026-10-04 12:00",
     ["2026-10-04T02:30+11:00", "2026-10-04T02:45+11:00"]),
    ("*/15 * * * *", LORD_HOWE, "2026-10-03 15:00", "2026-10-03 16:00",
     ["2026-10-04T01:45+10:30", "2026-10-04T02:30+11:00", "2026-10-04T02:45+11:00",
      "2026-10-04T03:00+11:00"]),
    ("45 1 * * *", LORD_HOWE, "2026-04-04 00:00", "2026-04-05 12:00",
     ["2026-04-05T01:45+11:00"]),
    ("45 * * * *", LORD_HOWE, "2026-04-04 13:00", "2026-04-04 16:00",
     ["2026-04-05T00:45+11:00", "2026-04-05T01:45+11:00", "2026-04-05T01:45+10:30"]),
    # Santiago changes at midnight: 2026-09-06 00:00 -> 01:00; 2026-04-04 24:00 -> 23:00.
    ("0 0 * * *", SANTIAGO, "2026-09-05 12:00", "2026-09-07 12:00",
     ["2026-09-06T01:00-03:00", "2026-09-07T00:00-03:00"]),
    ("30 23 * * *", SANTIAGO, "2026-04-04 12:00", "2026-04-05 12:00",
     ["2026-04-04T23:30-03:00"]),
    ("30 * * * *", SANTIAGO, "2026-04-05 01:00", "2026-04-05 05:00",
     ["2026-04-04T22:30-03:00", "2026-04-04T23:30-03:00", "2026-04-04T23:30-04:00",
      "2026-04-05T00:30-04:00"]),
    # Samoa skipped 2011-12-30 entirely: its noon run moves to the first instant after it.
    ("0 12 * * *", "Pacific/Apia", "2011-12-28 00:00", "2011-12-31 00:00",
     ["2011-12-28T12:00-10:00", "2011-12-29T12:00-10:00", "2011-12-31T00:00+14:00",
      "2011-12-31T12:00+14:00"]),
    ("0 * 30 12 *", "Pacific/Apia", "2011-12-28 00:00", "2011-12-31 00:00", []),
]  # fmt: skip


@pytest.mark.parametrize(("expression", "zone", "after", "until", "expected"), CASES)
def test_dst_policy(expression: str, zone: str, after: str, until: str, expected: list[str]) -> None:
    assert local_fires(expression, zone, after, until) == expected


ZONES = [BERLIN, NEW_YORK, SYDNEY, LORD_HOWE, SANTIAGO, "Asia/Kolkata", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("time_of_day", ["0 0", "30 1", "0 2", "59 2", "15 3", "30 23"])
def test_daily_job_fires_once_every_local_day(zone: str, time_of_day: str) -> None:
    result = fire_times(
        CronSchedule(f"{time_of_day} * * *", zone), utc("2025-12-31 12:00"), utc("2026-12-31 12:00")
    )
    local_days = [t.astimezone(ZoneInfo(zone)).date() for t in result]
    assert len(result) == len(set(local_days)) == 365


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, SYDNEY, SANTIAGO])
def test_star_hour_job_fires_every_real_hour(zone: str) -> None:
    result = fire_times(CronSchedule("0 * * * *", zone), utc("2026-01-01"), utc("2027-01-01"))
    assert result == [utc("2026-01-01") + timedelta(hours=hour) for hour in range(1, 8761)]


TRANSITIONS = [utc(text) for text in (
    "2026-03-29 01:00", "2026-10-25 01:00", "2026-03-08 07:00", "2026-11-01 06:00",
    "2026-10-03 16:00", "2026-04-04 16:00", "2026-10-03 15:30", "2026-04-04 15:00",
    "2026-09-06 04:00", "2026-04-05 03:00",
)]  # fmt: skip
WINDOW_EXPRESSIONS = st.sampled_from([
    "* * * * *", "*/7 * * * *", "30 2 * * *", "*/15 2 * * *", "0,30 1-3 * * *", "0 */2 * * *",
    "45 23,0 * * *", "*/10 0 * * *", "0 0,1 * * *", "59 1 * * 0",
])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    expression=WINDOW_EXPRESSIONS,
    zone=st.sampled_from(ZONES),
    transition=st.sampled_from(TRANSITIONS),
    start_minutes=st.integers(-36 * 60, 12 * 60),
    lengths=st.tuples(st.integers(0, 30 * 60), st.integers(0, 30 * 60)),
)
def test_windows_compose_and_agree_with_next_fire_times(
    expression: str,
    zone: str,
    transition: datetime,
    start_minutes: int,
    lengths: tuple[int, int],
) -> None:
    schedule = CronSchedule(expression, zone)
    after = transition + timedelta(minutes=start_minutes, seconds=30)
    middle = after + timedelta(minutes=lengths[0])
    until = middle + timedelta(minutes=lengths[1])
    whole = fire_times(schedule, after, until)
    assert whole == fire_times(schedule, after, middle) + fire_times(schedule, middle, until)
    assert all(earlier < later for earlier, later in zip(whole, whole[1:], strict=False))
    assert all(t.tzinfo is UTC for t in whole)
    if whole:
        assert next_fire_times(schedule, after, len(whole)) == whole
