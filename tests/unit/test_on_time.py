"""Start lag against the 10 s target: buckets, percentiles and the verdict. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.on_time import (
    LagBucket,
    LagMinute,
    WaitingType,
    judge,
    lag_bucket_ms,
    lag_minutes,
    percentile_ms,
)

NOW = datetime(2026, 3, 2, 10, 30, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("lag_ms", "bucket"),
    [(0, 0), (537, 530), (999, 990), (1_000, 1_000), (9_999, 9_900), (10_000, 10_000), (12_345, 12_000),
     (123_456, 120_000), (-537, -530)],
)  # fmt: skip
def test_lag_buckets(lag_ms: int, bucket: int) -> None:
    assert lag_bucket_ms(lag_ms) == bucket


def test_percentiles_are_the_top_of_their_bucket_capped_at_the_maximum() -> None:
    buckets = {200: 90, 12_000: 10}
    assert percentile_ms(buckets, 0.50, 12_400) == 209
    assert percentile_ms(buckets, 0.90, 12_400) == 209
    assert percentile_ms(buckets, 0.95, 12_400) == 12_400
    with pytest.raises(ValueError):
        percentile_ms({}, 0.5, 0)


def test_lag_minutes_add_up_each_minutes_buckets() -> None:
    first, second = NOW.replace(minute=0, second=0), NOW.replace(minute=1, second=0)
    minutes = lag_minutes(
        [
            LagBucket(second, 15_000, 1, 0, 15_000),
            LagBucket(first, 100, 2, 2, 105),
            LagBucket(first, 420, 1, 1, 420),
        ]
    )
    assert minutes == [
        LagMinute(first, 3, 3, p50_ms=109, p95_ms=420, p99_ms=420, max_ms=420),
        LagMinute(second, 1, 0, p50_ms=15_000, p95_ms=15_000, p99_ms=15_000, max_ms=15_000),
    ]


def test_a_row_waiting_past_the_target_breaks_the_promise_now() -> None:
    waiting = [WaitingType("http", due=3, late=2, oldest=NOW - timedelta(seconds=45))]
    verdict = judge([], waiting, NOW)
    assert verdict.broken
    assert (verdict.late_waiting, verdict.oldest_waiting_s) == (2, 45)
    assert verdict.reasons == ("2 runs due more than 10 s ago have not started (oldest waiting 45 s)",)
    assert verdict.on_time_share is None


def test_a_recent_late_start_breaks_it_an_old_one_does_not() -> None:
    late = LagMinute(NOW.replace(minute=28, second=0), 4, 3, 300, 12_000, 12_000, 12_000)
    assert judge([late], [], NOW).broken
    assert judge([late], [], NOW).on_time_share == 0.75
    old = LagMinute(NOW.replace(minute=10, second=0), 4, 3, 300, 12_000, 12_000, 12_000)
    fine = judge([old], [WaitingType("http", due=1, late=0, oldest=NOW)], NOW)
    assert not fine.broken and fine.reasons == ()
