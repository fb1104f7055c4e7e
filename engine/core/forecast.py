"""Per-minute forecast of work and required instances. Pure: callers pass `now` and rows in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS, required_instances
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


def forecast_minutes(
    runs: Iterable[ScheduledRun],
    compute_ms_by_type: Mapping[str, int],
    start: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
    default_compute_ms: int = 0,
) -> list[ForecastMinute]:
    """The series for every minute in [floor(start), floor(start) + hours), empty minutes as zero.

    Each run counts for the compute of its type (`compute_ms_by_type`, falling back to
    `default_compute_ms` for a type without an estimate). Runs outside the window are ignored.
    Example: two `report` runs of 4,500 ms in the 10:00 minute give 9,000 ms and 1 instance.
    """
    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    first = floor_minute(start)
    minute_count = int(timedelta(hours=hours) / MINUTE)
    end = first + minute_count * MINUTE
    counts: Counter[datetime] = Counter()
    compute: Counter[datetime] = Counter()
    for run in runs:
        minute = floor_minute(run.scheduled_time)
        if first <= minute < end:
            counts[minute] += 1
            compute[minute] += compute_ms_by_type.get(run.task_type, default_compute_ms)
    series = []
    for index in range(minute_count):
        minute = first + index * MINUTE
        total = compute[minute]
        series.append(
            ForecastMinute(
                minute=minute,
                task_count=counts[minute],
                total_compute_ms=total,
                required_instances=required_instances(total, capacity_ms, buffer),
            )
        )
    return series
