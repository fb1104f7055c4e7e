"""Cumulative histogram buckets, as Prometheus exposes them. Pure."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence


def cumulative_buckets(values: Iterable[float], bounds: Sequence[float]) -> list[tuple[float, int]]:
    """(upper bound, count of values <= bound) per bound, then (inf, count of all values).

    `bounds` must be ascending. Example: values 0.2, 0.7, 3 with bounds 0.5, 1 give
    [(0.5, 1), (1, 2), (inf, 3)].
    """
    return weighted_cumulative_buckets(((value, 1) for value in values), bounds)


def weighted_cumulative_buckets(
    counted: Iterable[tuple[float, int]], bounds: Sequence[float]
) -> list[tuple[float, int]]:
    """`cumulative_buckets` of values given with how many times each occurs, as a grouped
    count returns them. Example: (0.2, 3) and (0.7, 1) with bounds 0.5, 1 give
    [(0.5, 3), (1, 4), (inf, 4)]."""
    counts: dict[int, int] = {}
    for value, count in counted:
        index = bisect_left(bounds, value)
        counts[index] = counts.get(index, 0) + count
    return counts_to_cumulative(counts, bounds)


# Upper bounds (ms, inclusive) of the daily history rollups' histograms of elapsed time and of
# first-attempt start lag; a value above the last bound counts in one more bucket. Fixed, so
# that days rolled up years apart add up. sql/<dialect>/0009_history.sql and the named query
# `roll_up_run_buckets` spell the same bounds (tests/integration/test_history.py checks it).
HISTORY_BOUNDS_MS: tuple[int, ...] = (
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    3_600_000,
)


def bucket_index(value: float, bounds: Sequence[float] = HISTORY_BOUNDS_MS) -> int:
    """The bucket `value` falls in: the index of the first bound >= value, or `len(bounds)`
    above the last. Example: with the history bounds, 0 and 10 ms are bucket 0, 11 ms is
    bucket 1, 10,000 ms (the start-lag target) bucket 9 and an hour and a second bucket 14."""
    return bisect_left(bounds, value)


def counts_to_cumulative(counts: dict[int, int], bounds: Sequence[float]) -> list[tuple[float, int]]:
    """Per-bucket counts (bucket index -> count) as `cumulative_buckets` gives them.
    Example: {0: 1, 2: 2} with bounds 0.5, 1 gives [(0.5, 1), (1, 1), (inf, 3)]."""
    result: list[tuple[float, int]] = []
    running = 0
    for index, bound in enumerate([*bounds, float("inf")]):
        running += counts.get(index, 0)
        result.append((bound, running))
    return result
