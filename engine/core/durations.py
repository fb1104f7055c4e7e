"""Per-type compute estimates: the average elapsed time, or the type's expected duration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal


def round_half_up_ms(value: float | Decimal) -> int:
    """Round as SQL's ROUND() does (half away from zero for positives): 2.5 -> 3, not 2."""
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def average_elapsed_ms(elapsed_ms: Iterable[int]) -> int | None:
    """Mean of recorded elapsed times, rounded half up; None without history."""
    values = list(elapsed_ms)
    if not values:
        return None
    return round_half_up_ms(Decimal(sum(values)) / Decimal(len(values)))


def compute_ms_per_type(
    expected_ms: Mapping[str, int], averages_ms: Mapping[str, int | None]
) -> dict[str, int]:
    """The compute each task of a type is planned at: its history's average, else its expected
    duration. Types known only from history keep their average."""
    merged = dict(expected_ms)
    for task_type, average in averages_ms.items():
        if average is not None:
            merged[task_type] = average
    return merged
