"""Cron syntax, validation and expansion in UTC; DST behaviour lives in test_cron_dst.py."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.cron import (
    CronError,
    CronSchedule,
    compile_expression,
    fire_times,
    next_fire_times,
    parse_schedule,
    validate_timezone,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def upcoming(expression: str, after: str, count: int = 4, timezone: str = "UTC") -> list[str]:
    schedule = parse_schedule(expression, timezone)
    return [f"{t:%Y-%m-%d %H:%M}" for t in next_fire_times(schedule, utc(after), count)]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "expression is empty"),
        ("   ", "expression is empty"),
        ("* * * *", "expected 5 fields"),
        ("0 * * * * *", "seconds and year fields are not supported"),
        ("*/0 * * * *", "step must be at least 1"),
        ("61 * * * *", "61 is out of range 0-59"),
        ("0 24 * * *", "hour field: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 32 * *", "32 is out of range 1-31"),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("0 0 * * 1#6", "at most 5 times a month"),
        ("0 0 * * 1#0", "at most 5 times a month"),
        ("0 0 * * L", "'L' needs a weekday"),
        ("0 0 L * L", "'L' needs a weekday"),
        ("0 0 15X * *", "unknown value '15X'"),
        ("0 0 1-15W * *", "day-of-month field: cannot read"),
        ("L * * * *", "minute field: unknown value 'L'"),
        ("*/60 * * * *", "step 60 in '*/60' is larger than 59"),
        ("5-2 * * * *", "range '5-2' runs backwards"),
        ("0 0 * * sat-sun", "runs backwards"),
        ("1,,2 * * * *", "empty item"),
        ("mon * * * *", "minute field: unknown value 'mon'"),
        ("0 0 * * monday", "unknown value 'monday'"),
        ("0 0 * mon *", "month field: unknown value 'mon'"),
        ("0 ? * * *", "'?' is only allowed in the day fields"),
        ("@reboot", "@reboot is not supported"),
        ("@Fortnightly", "unknown shortcut '@Fortnightly'"),
        ("@daily 1", "@daily stands alone"),
        ("H * * * *", "minute field: unknown value 'H'"),
        ("-1 * * * *", "cannot read '-1'"),
        ("\u0661 * * * *", "cannot read"),
        ("0 0 * * 1#\u00b2", "at most 5 times a month"),
        ("x" * 10_000, "longer than 256 characters"),
    ],
)
def test_syntax_errors_name_the_problem(expression: str, problem: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule(expression)
    assert caught.value.field == "cron_expression"
    assert problem in caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 0 30 2 *", "never fires: February has no day 30"),
        ("0 0 31 4 *", "never fires: April has no day 31"),
        ("0 0 31 4,6,9,11 *", "April and June and September and November have no day 31"),
        ("0 0 30,31 feb *", "February has no day 30 or 31"),
        ("0 0 31W 4 *", "never fires"),
        ("0 0 30W 2 *", "never fires"),
    ],
)
def test_expressions_that_can_never_fire_are_rejected(expression: str, problem: str) -> None:
    with pytest.raises(CronError, match=problem):
        parse_schedule(expression)


@pytest.mark.parametrize(
    "expression",
    ["0 0 29 2 *", "0 0 31 1-12 *", "0 0 30 2 mon", "0 0 * 2 mon#5", "0 0 L 2 *", "0 0 29W 2 *"],
)
def test_expressions_that_fire_only_sometimes_are_valid(expression: str) -> None:
    assert next_fire_times(parse_schedule(expression), utc("2026-01-01"), 1)


def test_leap_day_fires_in_leap_years_only() -> None:
    assert upcoming("0 0 29 2 *", "2026-01-01 00:00", 3) == [
        "2028-02-29 00:00",
        "2032-02-29 00:00",
        "2036-02-29 00:00",
    ]


def test_rare_fifth_weekday_is_found_across_decades() -> None:
    # A fifth Monday in February needs a leap year starting its February on a Monday.
    assert upcoming("0 0 * 2 mon#5", "2026-01-01", 3) == [
        "2044-02-29 00:00",
        "2072-02-29 00:00",
        "2112-02-29 00:00",
    ]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/20 * * * *", "2026-05-01 10:00", ["10:20", "10:40", "11:00", "11:20"]),
        ("0 8-10/2 * * *", "2026-05-01 00:00", ["08:00", "10:00", "08:00", "10:00"]),
        ("15/20 0 * * *", "2026-05-01 00:00", ["00:15", "00:35", "00:55", "00:15"]),
        ("5,10-11 0 * * *", "2026-05-01 00:00", ["00:05", "00:10", "00:11", "00:05"]),
        ("@hourly", "2026-05-01 10:30", ["11:00", "12:00", "13:00", "14:00"]),
    ],
)
def test_times_of_day(expression: str, after: str, expected: list[str]) -> None:
    assert [text[11:] for text in upcoming(expression, after)] == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 9 * jan-mar mon-fri", ["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-06"]),
        ("0 9 * JAN-Mar MON-fri", ["2026-01-01", "2026-01-02", "2026-01-05", "2026-01-06"]),
        ("0 9 1 jun,dec *", ["2026-06-01", "2026-12-01", "2027-06-01", "2027-12-01"]),
        ("0 9 * * 7", ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"]),
        ("0 9 * * 0", ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"]),
        ("0 9 * * fri-7", ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-09"]),
        ("0 9 * * */3", ["2026-01-03", "2026-01-04", "2026-01-07", "2026-01-10"]),
        ("0 9 * * 7/2", ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"]),
        ("0 9 ? * 1", ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]),
        ("@daily", ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]),
        ("@midnight", ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]),
        ("@weekly", ["2026-01-04", "2026-01-11", "2026-01-18", "2026-01-25"]),
        ("@monthly", ["2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]),
        ("@yearly", ["2027-01-01", "2028-01-01", "2029-01-01", "2030-01-01"]),
        ("@ANNUALLY", ["2027-01-01", "2028-01-01", "2029-01-01", "2030-01-01"]),
    ],
)
def test_days_names_and_shortcuts(expression: str, expected: list[str]) -> None:
    assert [text[:10] for text in upcoming(expression, "2026-01-01 00:00")] == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # 2026: Feb has 28 days; Jan 31 is a Saturday, May 31 a Sunday, Aug 1 a Saturday.
        ("0 0 L * *", ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]),
        ("0 0 LW * *", ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30"]),
        ("0 0 15W * *", ["2026-01-15", "2026-02-16", "2026-03-16", "2026-04-15"]),
        ("0 0 1W 8 *", ["2026-08-03", "2027-08-02", "2028-08-01", "2029-08-01"]),
        ("0 0 31W 5 *", ["2026-05-29", "2027-05-31", "2028-05-31", "2029-05-31"]),
        ("0 0 * * 5L", ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
        ("0 0 * * friL", ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
        ("0 0 * * 1#2", ["2026-01-12", "2026-02-09", "2026-03-09", "2026-04-13"]),
        ("0 0 * * mon#1,mon#3", ["2026-01-05", "2026-01-19", "2026-02-02", "2026-02-16"]),
        ("0 0 * * 4#5", ["2026-01-29", "2026-04-30", "2026-07-30", "2026-10-29"]),
    ],
)
def test_last_weekday_and_nth(expression: str, expected: list[str]) -> None:
    assert [text[:10] for text in upcoming(expression, "2026-01-01 00:00")] == expected


def test_restricted_day_fields_combine_with_or() -> None:
    # The 1st of each month, and every Monday (2026-06-01 is itself a Monday).
    assert [text[:10] for text in upcoming("0 0 1 * mon", "2026-05-20", 6)] == [
        "2026-05-25",
        "2026-06-01",
        "2026-06-08",
        "2026-06-15",
        "2026-06-22",
        "2026-06-29",
    ]
    assert [text[:10] for text in upcoming("0 0 L * 1#1", "2026-05-20", 3)] == [
        "2026-05-31",
        "2026-06-01",
        "2026-06-30",
    ]


def test_day_field_starting_with_star_combines_with_and() -> None:
    # As in Vixie cron, `*/2` counts as unrestricted: odd days that are also Mondays.
    assert [text[:10] for text in upcoming("0 0 */2 * mon", "2026-01-01", 3)] == [
        "2026-01-05",
        "2026-01-19",
        "2026-02-09",
    ]


def test_window_excludes_after_and_includes_until() -> None:
    schedule = CronSchedule("*/30 * * * *")
    assert fire_times(schedule, utc("2026-05-01 10:00"), utc("2026-05-01 11:00")) == [
        utc("2026-05-01 10:30"),
        utc("2026-05-01 11:00"),
    ]
    assert fire_times(schedule, utc("2026-05-01 10:00"), utc("2026-05-01 10:00")) == []
    assert fire_times(schedule, utc("2026-05-01 11:00"), utc("2026-05-01 10:00")) == []


def test_window_bounds_may_be_in_any_zone_and_results_are_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    result = fire_times(
        CronSchedule("0 * * * *"),
        datetime(2026, 5, 1, 19, 0, 0, 1, tzinfo=tokyo),
        datetime(2026, 5, 1, 21, tzinfo=tokyo),
    )
    assert result == [utc("2026-05-01 11:00"), utc("2026-05-01 12:00")]
    assert all(t.tzinfo is UTC for t in result)


def test_naive_bounds_are_rejected() -> None:
    schedule = CronSchedule("* * * * *")
    with pytest.raises(ValueError, match="after must be a timezone-aware"):
        fire_times(schedule, datetime(2026, 1, 1), utc("2026-01-02"))
    with pytest.raises(ValueError, match="until must be a timezone-aware"):
        fire_times(schedule, utc("2026-01-01"), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="after must be a timezone-aware"):
        next_fire_times(schedule, datetime(2026, 1, 1), 1)


def test_next_fire_times_count() -> None:
    schedule = CronSchedule("0 0 * * *")
    assert next_fire_times(schedule, utc("2026-01-01"), 0) == []
    with pytest.raises(ValueError, match="must not be negative"):
        next_fire_times(schedule, utc("2026-01-01"), -1)
    assert len(next_fire_times(CronSchedule("* * * * *"), utc("2026-01-01"), 5000)) == 5000


def test_next_fire_times_stops_at_the_end_of_the_datetime_range() -> None:
    near_end = next_fire_times(CronSchedule("0 0 * * *"), utc("9999-12-25"), 10)
    assert near_end == [utc("9999-12-26"), utc("9999-12-27"), utc("9999-12-28"), utc("9999-12-29")]
    assert next_fire_times(CronSchedule("0 0 * * *"), utc("9999-12-31 12:00"), 10) == []
    assert fire_times(CronSchedule("0 0 1 1 *"), utc("0001-01-01"), utc("0001-02-01")) == []


def test_schedule_built_without_validation_fails_on_use() -> None:
    with pytest.raises(CronError, match="61 is out of range"):
        fire_times(CronSchedule("61 * * * *"), utc("2026-01-01"), utc("2026-01-02"))
    with pytest.raises(CronError) as caught:
        next_fire_times(CronSchedule("* * * * *", "Mars/Base"), utc("2026-01-01"), 1)
    assert caught.value.field == "timezone"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Mars/Base", "unknown timezone 'Mars/Base'"),
        ("europe/berlin", "unknown timezone"),
        ("Europe/Berlin ", "unknown timezone"),
        ("America", "unknown timezone 'America'"),
        ("../etc/passwd", "unknown timezone"),
        ("/etc/localtime", "unknown timezone"),
        ("a\x00b", "unknown timezone"),
        ("", "non-empty name"),
        ("localtime", "depends on the host"),
        ("A" * 10_000, "longer than 64 characters"),
    ],
)
def test_unknown_timezones_are_rejected(name: str, problem: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule("* * * * *", name)
    assert caught.value.field == "timezone"
    assert problem in caught.value.message


def test_errors_survive_pickling_between_processes() -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule("* * * * *", "Mars/Base")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.field, copy.message) == ("timezone", "unknown timezone 'Mars/Base'")


def test_valid_schedule_is_returned_as_given() -> None:
    schedule = parse_schedule("0 9 * * MON-FRI", "Europe/Berlin")
    assert schedule == CronSchedule("0 9 * * MON-FRI", "Europe/Berlin")
    assert validate_timezone("Europe/Berlin").key == "Europe/Berlin"


def test_compiled_expressions_are_cached() -> None:
    assert compile_expression("*/7 3 * * *") is compile_expression("*/7 3 * * *")


def test_validating_garbage_is_fast() -> None:
    samples = [
        "x" * 10_000,
        "1-" * 5_000,
        "*/" * 128,
        "\x00" * 9_999,
        "0 0 " + ",".join(["31W"] * 60) + " 4,6,9,11 *",  # 254 characters that never fire
    ]
    started = time.perf_counter()
    for sample in samples:
        with pytest.raises(CronError):
            parse_schedule(sample)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize(
    ("timezone_name", "expected"),
    [
        ("Asia/Kolkata", ["2026-05-01 03:30", "2026-05-02 03:30"]),
        ("Etc/GMT+5", ["2026-05-01 14:00", "2026-05-02 14:00"]),
        ("America/New_York", ["2026-05-01 13:00", "2026-05-02 13:00"]),
    ],
)
def test_wall_clock_of_the_timezone(timezone_name: str, expected: list[str]) -> None:
    assert upcoming("0 9 * * *", "2026-05-01", 2, timezone_name) == expected


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    if names:
        value = value | st.sampled_from(names)
    number = st.integers(low, high)
    step = st.integers(1, high - low)
    # croniter reads a one-value range (`5-5`, `5-5/1`) as `*`, so those stay out.
    span = st.tuples(number, number).filter(lambda pair: pair[0] < pair[1])
    item = st.one_of(
        value,
        span.map(lambda pair: f"{pair[0]}-{pair[1]}"),
        st.tuples(span, step).map(lambda parts: f"{parts[0][0]}-{parts[0][1]}/{parts[1]}"),
        st.tuples(number, step).map(lambda parts: f"{parts[0]}/{parts[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


def _star_or(field: st.SearchStrategy[str], high: int) -> st.SearchStrategy[str]:
    return st.one_of(st.just("*"), st.integers(1, high).map(lambda step: f"*/{step}"), field)


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
EXPRESSIONS = st.tuples(
    _star_or(_field(0, 59), 59),
    _star_or(_field(0, 23), 23),
    # `*/n` in a day field is left out: croniter ORs it with the other day field, Vixie
    # cron (and Headway) treat it as unrestricted. Days stay <= 28 so croniter never has to
    # search for a date that does not exist.
    st.just("*") | _field(1, 28),
    _star_or(_field(1, 12, MONTHS), 11),
    st.just("*") | _field(0, 6, WEEKDAYS),
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(
    expression=EXPRESSIONS,
    after=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1)),
)
def test_agrees_with_croniter_in_utc(expression: str, after: datetime) -> None:
    start = after.replace(tzinfo=UTC)
    iterator = croniter(expression, start)
    expected = [iterator.get_next(datetime).astimezone(UTC) for _ in range(12)]
    schedule = parse_schedule(expression)
    assert next_fire_times(schedule, start, 12) == expected
    assert fire_times(schedule, start, expected[-1]) == expected
