from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.core.durations import average_elapsed_ms, compute_ms_per_type, round_half_up_ms
from engine.core.forecast import (
    ceil_minute,
    floor_minute,
    forecast_from_counts,
    forecast_minutes,
    forecast_window,
)
from engine.core.horizon import materialisation_horizon
from engine.core.types import ScheduledRun

T0 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)


def test_series_covers_every_minute_with_empty_minutes_as_zero() -> None:
    runs = [
        ScheduledRun(datetime(2026, 3, 1, 10, 0, tzinfo=UTC), "report"),
        ScheduledRun(datetime(2026, 3, 1, 10, 0, 45, tzinfo=UTC), "report"),
        ScheduledRun(datetime(2026, 3, 1, 10, 2, tzinfo=UTC), "sync"),
        ScheduledRun(datetime(2026, 3, 1, 13, 0, tzinfo=UTC), "sync"),  # outside 3 h window
    ]
    series = forecast_minutes(runs, {"report": 4_500, "sync": 9_001}, T0, hours=3)
    assert len(series) == 180
    assert series[0].minute == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert (series[0].task_count, series[0].total_compute_ms, series[0].required_instances) == (2, 9_000, 1)
    assert (series[1].task_count, series[1].required_instances) == (0, 0)
    assert (series[2].total_compute_ms, series[2].required_instances) == (9_001, 2)
    assert sum(m.task_count for m in series) == 3


def test_unknown_type_uses_the_default_compute() -> None:
    runs = [ScheduledRun(T0, "mystery")]
    assert forecast_minutes(runs, {}, T0, 1, default_compute_ms=500)[0].total_compute_ms == 500


def test_parameters_reach_the_formula() -> None:
    runs = [ScheduledRun(T0, "a")] * 3
    series = forecast_minutes(runs, {"a": 5_000}, T0, 1, capacity_ms=10_000, buffer=0.5)
    assert series[0].required_instances == 3


def test_rejects_naive_times_and_empty_horizons() -> None:
    with pytest.raises(ValueError):
        floor_minute(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        forecast_minutes([], {}, T0, hours=0)


def test_counts_give_the_series_their_runs_give() -> None:
    at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    counts = {
        (at, "report"): 2,
        (at + timedelta(seconds=59, microseconds=999_999), "sync"): 1,  # same minute, adds up
        (at + timedelta(minutes=2), "mystery"): 3,  # no estimate: the default
        (at + timedelta(hours=3), "sync"): 5,  # outside the window
        (at - timedelta(microseconds=1), "sync"): 5,  # the minute before the window
    }
    runs = [ScheduledRun(instant, task_type) for (instant, task_type), n in counts.items() for _ in range(n)]
    compute = {"report": 4_500, "sync": 9_001}
    series = forecast_from_counts(counts, compute, T0, 3, 10_000, 0.25, default_compute_ms=700)
    assert series == forecast_minutes(runs, compute, T0, 3, 10_000, 0.25, default_compute_ms=700)
    assert (series[0].task_count, series[0].total_compute_ms, series[0].required_instances) == (3, 18_001, 3)
    assert (series[2].task_count, series[2].total_compute_ms) == (3, 2_100)
    assert sum(m.task_count for m in series) == 6


def test_counts_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        forecast_from_counts({(T0, "a"): -1}, {"a": 1}, T0, 1)


@pytest.mark.parametrize(("hours", "minutes"), [(3, 180), (0.51, 30), (1 / 60, 1), (0.01, 0), (168, 10_080)])
def test_window_holds_the_whole_minutes_of_the_horizon(hours: float, minutes: int) -> None:
    first, end = forecast_window(T0, hours)
    assert first == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert end - first == timedelta(minutes=minutes)
    assert len(forecast_minutes([], {}, T0, hours)) == minutes


def test_ceil_minute_keeps_a_whole_minute() -> None:
    assert ceil_minute(datetime(2026, 3, 1, 10, 4, tzinfo=UTC)) == datetime(2026, 3, 1, 10, 4, tzinfo=UTC)
    assert ceil_minute(datetime(2026, 3, 1, 10, 4, 0, 1, tzinfo=UTC)) == datetime(
        2026, 3, 1, 10, 5, tzinfo=UTC
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    assert ceil_minute(datetime(2026, 3, 1, 19, 4, 30, tzinfo=tokyo)) == datetime(
        2026, 3, 1, 10, 5, tzinfo=UTC
    )


def test_average_rounds_half_up_like_sql() -> None:
    assert average_elapsed_ms([1, 2]) == 2
    assert average_elapsed_ms([2, 3, 3]) == 3
    assert average_elapsed_ms([]) is None
    assert round_half_up_ms(2.5) == 3


def test_history_overrides_expected_duration() -> None:
    assert compute_ms_per_type({"a": 100, "b": 200}, {"a": 150, "c": 7}) == {"a": 150, "b": 200, "c": 7}


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [
        (datetime(2026, 1, 1, 9, 0, tzinfo=UTC), None, datetime(2026, 1, 2, tzinfo=UTC)),
        (datetime(2026, 1, 1, 22, 30, tzinfo=UTC), None, datetime(2026, 1, 2, 1, 30, tzinfo=UTC)),
        (datetime(2026, 1, 1, 9, 0, tzinfo=UTC), 1.0, datetime(2026, 1, 1, 12, 0, tzinfo=UTC)),
        (datetime(2026, 1, 1, 9, 0, tzinfo=UTC), 6.0, datetime(2026, 1, 1, 15, 0, tzinfo=UTC)),
    ],
)
def test_horizon_is_end_of_utc_day_or_forecast_whichever_later(
    now: datetime, window: float | None, expected: datetime
) -> None:
    assert materialisation_horizon(now, 3.0, window) == expected


def test_horizon_uses_utc_day_for_offset_inputs() -> None:
    tokyo_morning = datetime(2026, 1, 1, 8, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    assert materialisation_horizon(tokyo_morning, 3.0) == datetime(2026, 1, 2, tzinfo=UTC)
    assert materialisation_horizon(T0, 30.0) == T0 + timedelta(hours=30)
