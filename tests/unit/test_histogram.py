"""Cumulative histogram buckets for the start-lag metric."""

from __future__ import annotations

from engine.core.histogram import cumulative_buckets

INF = float("inf")


def test_each_bucket_counts_the_values_at_or_below_its_bound() -> None:
    assert cumulative_buckets([0.2, 0.7, 3.0], [0.5, 1.0]) == [(0.5, 1), (1.0, 2), (INF, 3)]


def test_a_value_on_a_bound_falls_in_that_bucket_and_negatives_in_the_first() -> None:
    assert cumulative_buckets([0.5, 1.0, -2.0], [0.5, 1.0]) == [(0.5, 2), (1.0, 3), (INF, 3)]


def test_no_values_gives_zero_counts() -> None:
    assert cumulative_buckets([], [1.0]) == [(1.0, 0), (INF, 0)]
