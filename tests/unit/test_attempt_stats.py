"""Folding grouped attempts into the Metrics figures (engine.core.attempt_stats)."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.core.attempt_stats import AttemptGroup, FailureHour, TypeDurations, summarize_attempts

NINE = datetime(2026, 3, 2, 9, tzinfo=UTC)
TEN = datetime(2026, 3, 2, 10, tzinfo=UTC)


def group(
    hour: datetime,
    outcome: str | None,
    bucket_ms: int | None,
    attempts: int,
    total_ms: int,
    max_ms: int | None,
) -> AttemptGroup:
    return AttemptGroup(hour, "http", outcome, outcome is not None, bucket_ms, attempts, total_ms, max_ms)


def test_figures_are_sums_over_the_groups() -> None:
    summary = summarize_attempts(
        [
            group(TEN, "succeeded", 100, 1, 100, 100),
            group(TEN, "succeeded", 200, 1, 200, 200),
            group(TEN, "succeeded", 400, 1, 400, 400),
            group(TEN, "timeout", 1_000, 1, 1_000, 1_000),
            group(NINE, "http_status", 300, 1, 300, 300),
            group(TEN, None, None, 2, 0, None),  # running
        ]
    )
    assert summary.durations == [TypeDurations("http", 5, 2, 400, 233, 309, 1_000, 1_000)]
    assert summary.failures == [FailureHour(NINE, "http", 1, 1), FailureHour(TEN, "http", 4, 1)]
    assert summary.run_counts == {
        ("http", "succeeded"): 3,
        ("http", "timeout"): 1,
        ("http", "http_status"): 1,
        ("http", None): 2,
    }


def test_averages_round_half_up_and_no_success_has_no_success_average() -> None:
    summary = summarize_attempts([group(TEN, "timeout", 0, 1, 0, 0), group(TEN, "timeout", 0, 1, 5, 5)])
    [durations] = summary.durations
    assert (durations.avg_elapsed_ms, durations.avg_succeeded_ms) == (3, None)  # 2.5 -> 3


def test_no_groups_no_figures() -> None:
    summary = summarize_attempts([])
    assert (summary.durations, summary.failures, summary.run_counts) == ([], [], {})
