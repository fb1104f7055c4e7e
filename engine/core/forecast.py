"""Per-minute forecast of work and required instances. Pure: callers pass `now` and rows in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS, effective_capacity_ms, instances_at
from engine.core.types import ScheduledRun

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ForecastMinute:
    minute: datetime
    task_count: int
    total_compute_ms: int
    required_instances: int


def floor_minute(instant: datetime) -> datetime:
    """The UTC minute an instant falls in: 10:04:59.9 -> 10:04:00."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(UTC).replace(second=0, microsecond=0)


def require_whole_minutes(*bounds: datetime) -> None:
    """Raise ValueError unless every bound is a whole UTC minute (reads of per-minute counts)."""
    for bound in bounds:
        if floor_minute(bound) != bound:
            raise ValueError(f"window bounds must be whole minutes, got {bound}")


def ceil_minute(instant: datetime) -> datetime:
    """The first UTC minute boundary at or after an instant: 10:04:00.1 -> 10:05:00,
    10:04:00 -> 10:04:00."""
    floored = floor_minute(instant)
    return floored if floored == instant else floored + MINUTE


def forecast_window(start: datetime, hours: float) -> tuple[datetime, datetime]:
    """The minutes a forecast covers, as [first, end): from the minute of `start` for the whole
    minutes in `hours` (a part minute is left out). `forecast_window(10:04:30, 0.51)` is
    (10:04, 10:34): 0.51 h is 30.6 minutes, so 30 of them."""
    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    first = floor_minute(start)
    return first, first + int(timedelta(hours=hours) / MINUTE) * MINUTE


def forecast_minutes(
    runs: Iterable[ScheduledRun],
    compute_ms_by_type: Mapping[str, int],
    start: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
    default_compute_ms: int = 0,
) -> list[ForecastMinute]:
    """The series for every minute of `forecast_window(start, hours)`, empty minutes as zero.

    Each run counts for the compute of its type (`compute_ms_by_type`, falling back to
    `default_compute_ms` for a type without an estimate). Runs outside the window are ignored.
    Example: two `report` runs of 4,500 ms in the 10:00 minute give 9,000 ms and 1 instance.
    """
    counts = Counter((run.scheduled_time, run.task_type) for run in runs)
    return forecast_from_counts(
        counts, compute_ms_by_type, start, hours, capacity_ms, buffer, default_compute_ms
    )


def forecast_from_counts(
    counts: Mapping[tuple[datetime, str], int],
    compute_ms_by_type: Mapping[str, int],
    start: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
    default_compute_ms: int = 0,
) -> list[ForecastMinute]:
    """`forecast_minutes` from runs already counted: `counts[(instant, task_type)]` runs of
    that type at that instant, or anywhere in its minute (keys of one minute add up).

    A minute's compute is the sum over its types of count x the type's compute, so
    `{(10:00, "report"): 2}` with `report` at 4,500 ms gives 9,000 ms and 1 instance at 10:00.
    """
    first, end = forecast_window(start, hours)
    effective_ms = effective_capacity_ms(capacity_ms, buffer)
    tasks: Counter[datetime] = Counter()
    compute: Counter[datetime] = Counter()
    for (instant, task_type), count in counts.items():
        if count < 0:
            raise ValueError(f"a count must not be negative, got {count} for {task_type} at {instant}")
        minute = floor_minute(instant)
        if first <= minute < end:
            tasks[minute] += count
            compute[minute] += count * compute_ms_by_type.get(task_type, default_compute_ms)
    series = []
    minute = first
    while minute < end:
        total = compute[minute]
        series.append(
            ForecastMinute(
                minute=minute,
                task_count=tasks[minute],
                total_compute_ms=total,
                required_instances=instances_at(total, effective_ms),
            )
        )
        minute += MINUTE
    return series
