"""Cumulative histogram buckets, as Prometheus exposes them. Pure."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence


def cumulative_buckets(values: Iterable[float], bounds: Sequence[float]) -> list[tuple[float, int]]:
    """(upper bound, count of values <= bound) per bound, then (inf, count of all values).

    `bounds` must be ascending. Example: values 0.2, 0.7, 3 with bounds 0.5, 1 give
    [(0.5, 1), (1, 2), (inf, 3)].
    """
    counts = [0] * (len(bounds) + 1)
    for value in values:
        counts[bisect_left(bounds, value)] += 1
    result: list[tuple[float, int]] = []
    running = 0
    for bound, count in zip([*bounds, float("inf")], counts, strict=True):
        running += count
        result.append((bound, running))
    return result
