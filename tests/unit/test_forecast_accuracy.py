"""Forecast accuracy maths: which minute a snapshot covers, errors, per-lead and per-type sums."""

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.forecast_accuracy import Work, by_type, compare, snapshot_minutes, summarize

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_a_step_snapshots_the_minute_each_lead_reaches():
    now = T + timedelta(seconds=30)
    assert snapshot_minutes(now) == [(T + 180 * M, 180), (T + 60 * M, 60), (T + 10 * M, 10)]
    # On the minute, the lead is exact; a second before, the minute is one earlier.
    assert snapshot_minutes(T, [60]) == [(T + 60 * M, 60)]
    assert snapshot_minutes(T - timedelta(seconds=1), [60]) == [(T + 59 * M, 60)]


def test_the_worked_example_of_an_under_forecast_minute():
    snapshots = {(T, 60): {"report": Work(20, 9_000)}}
    actual = {T: {"report": Work(22, 10_340)}}
    [row] = compare(snapshots, actual)
    assert (row.task_error, row.compute_error_ms, row.instance_error) == (-2, -1_340, -1)
    assert (row.forecast_instances, row.needed_instances) == (1, 2)


def test_errors_per_lead_and_per_type():
    snapshots = {
        (T, 180): {"a": Work(10, 10_000)},
        (T, 10): {"a": Work(10, 10_000), "b": Work(2, 20_000)},
        (T + M, 10): {},  # the forecast said nothing would run
    }
    actual = {T: {"a": Work(9, 8_000), "b": Work(2, 26_000)}, T + M: {"b": Work(1, 9_500)}}
    rows = compare(snapshots, actual, capacity_ms=10_000, buffer=0.1)
    assert [(row.minute, row.lead_minutes) for row in rows] == [(T, 180), (T, 10), (T + M, 10)]
    assert [row.compute_error_ms for row in rows] == [-24_000, -4_000, -9_500]
    # 34,000 ms needs ceil(34,000 / 9,000) = 4; 10,000 -> 2; 30,000 -> 4; 9,500 -> 2; 0 -> 0.
    assert [(row.forecast_instances, row.needed_instances) for row in rows] == [(2, 4), (4, 4), (0, 2)]
    long, short = summarize(rows)
    assert (long.lead_minutes, long.minutes, long.under_forecast_minutes) == (180, 1, 1)
    assert long.compute_error_pct == pytest.approx(100 * 24_000 / 34_000)
    assert (short.lead_minutes, short.minutes) == (10, 2)
    assert short.compute_mae_ms == (4_000 + 9_500) / 2
    assert short.compute_bias_ms == -(4_000 + 9_500) / 2
    assert short.task_mae == (1 + 1) / 2  # 12 vs 11 tasks, then 0 vs 1
    assert short.instance_bias == -1.0 and short.under_forecast_minutes == 1
    types = by_type(snapshots, actual)
    assert [(t.lead_minutes, t.task_type, t.compute_abs_error_ms) for t in types] == [
        (180, "b", 26_000),
        (180, "a", 2_000),
        (10, "b", 15_500),  # 6,000 at T plus 9,500 at T + 1
        (10, "a", 2_000),
    ]
    assert types[2].forecast == Work(2, 20_000) and types[2].actual == Work(3, 35_500)


def test_no_snapshots_no_rows():
    assert compare({}, {T: {"a": Work(1, 1)}}) == []
    assert summarize([]) == []
