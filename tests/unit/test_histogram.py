"""Cumulative histogram buckets for the start-lag metric."""

from __future__ import annotations

from engine.core.histogram import cumulative_buckets, weighted_cumulative_buckets

INF = float("inf")


def test_each_bucket_counts_the_values_at_or_below_its_bound() -> None:
    assert cumulative_buckets([0.2, 0.7, 3.0], [0.5, 1.0]) == [(0.5, 1), (1.0, 2), (INF, 3)]


def test_a_value_on_a_bound_falls_in_that_bucket_and_negatives_in_the_first() -> None:
    assert cumulative_buckets([0.5, 1.0, -2.0], [0.5, 1.0]) == [(0.5, 2), (1.0, 3), (INF, 3)]


def test_no_values_gives_zero_counts() -> None:
    assert cumulative_buckets([], [1.0]) == [(1.0, 0), (INF, 0)]


def test_history_buckets_put_a_value_on_a_bound_in_that_bucket() -> None:
    from engine.core.histogram import HISTORY_BOUNDS_MS, bucket_index

    assert [bucket_index(v) for v in (-5, 0, 10, 11, 10_000, 3_600_000, 3_600_001)] == [
        0,
        0,
        0,
        1,
        9,
        13,
        len(HISTORY_BOUNDS_MS),
    ]


def test_bucket_counts_add_up_as_the_cumulative_histogram_does() -> None:
    from engine.core.histogram import bucket_index, counts_to_cumulative

    values = [0.2, 0.7, 3.0, 0.5]
    counts: dict[int, int] = {}
    for value in values:
        counts[bucket_index(value, [0.5, 1.0])] = counts.get(bucket_index(value, [0.5, 1.0]), 0) + 1
    assert counts_to_cumulative(counts, [0.5, 1.0]) == cumulative_buckets(values, [0.5, 1.0])


def test_weighted_buckets_count_each_value_as_often_as_it_occurs() -> None:
    assert weighted_cumulative_buckets([(0.2, 3), (0.7, 1)], [0.5, 1.0]) == [(0.5, 3), (1.0, 4), (INF, 4)]
    # A value on a bound counts in that bound's bucket (Prometheus' `le`), as unweighted.
    counted = [(0.5, 2), (1.0, 1), (-2.0, 4), (3.0, 5)]
    values = [value for value, count in counted for _ in range(count)]
    assert weighted_cumulative_buckets(counted, [0.5, 1.0]) == cumulative_buckets(values, [0.5, 1.0])
    assert weighted_cumulative_buckets([], [1.0]) == [(1.0, 0), (INF, 0)]
