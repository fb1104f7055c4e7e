"""The weekly partition ranges (engine.core.partitions), from a table of instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.partitions import (
    TimeRange,
    droppable_ranges,
    partition_name,
    range_containing,
    ranges_to_create,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def week(start: str) -> TimeRange:
    return TimeRange(at(start), at(start) + timedelta(days=7))


@pytest.mark.parametrize(
    ("instant", "start"),
    [
        ("2026-12-03T10:00:00", "2026-11-30T00:00:00"),  # a Thursday
        ("2026-11-30T00:00:00", "2026-11-30T00:00:00"),  # Monday midnight opens its week
        ("2026-11-29T23:59:59.999999", "2026-11-23T00:00:00"),  # Sunday's last instant
        ("2027-01-01T12:00:00", "2026-12-28T00:00:00"),  # across a new year
        ("1999-12-31T00:00:00", "1999-12-27T00:00:00"),  # before the alignment origin
    ],
)
def test_a_week_runs_from_monday_midnight_utc(instant: str, start: str) -> None:
    assert range_containing(at(instant)) == week(start)


def test_an_instant_in_another_zone_falls_in_its_utc_week() -> None:
    sunday_evening_new_york = datetime.fromisoformat("2026-11-29T20:00:00-05:00")  # Monday 01:00 UTC
    assert range_containing(sunday_evening_new_york) == week("2026-11-30T00:00:00")


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        range_containing(datetime(2026, 12, 3))


def test_the_default_lead_is_the_current_week_and_the_next() -> None:
    # Whatever the day: a week ahead of a Monday 00:00 is the next Monday 00:00, of a Sunday
    # 23:59 the next Sunday, both in the following week.
    for instant in ("2026-11-30T00:00:00", "2026-12-03T10:00:00", "2026-12-06T23:59:00"):
        assert ranges_to_create(at(instant)) == [week("2026-11-30T00:00:00"), week("2026-12-07T00:00:00")]


def test_the_weeks_to_create_run_from_now_through_the_lead() -> None:
    assert ranges_to_create(at("2026-12-03T10:00:00"), timedelta(days=28)) == [
        week(start)
        for start in (
            "2026-11-30T00:00:00",
            "2026-12-07T00:00:00",
            "2026-12-14T00:00:00",
            "2026-12-21T00:00:00",
            "2026-12-28T00:00:00",
        )
    ]
    assert ranges_to_create(at("2026-12-03T10:00:00"), timedelta(0)) == [week("2026-11-30T00:00:00")]


def test_only_weeks_wholly_before_the_cutoff_may_be_dropped() -> None:
    existing = [week("2026-11-02T00:00:00"), week("2026-10-19T00:00:00"), week("2026-10-26T00:00:00")]
    cutoff = at("2026-11-03T10:00:00")
    assert droppable_ranges(existing, cutoff) == [week("2026-10-19T00:00:00"), week("2026-10-26T00:00:00")]
    # A week ending exactly at the cutoff holds only rows scheduled before it.
    assert droppable_ranges(existing, at("2026-11-09T00:00:00")) == sorted(existing)


def test_partitions_are_named_by_table_and_first_day() -> None:
    assert partition_name("task_runs", week("2026-11-30T00:00:00")) == "task_runs_p20261130"
