"""Whether tasks start within the target after their scheduled time. Pure: the counts read
from the schedule and `now` come in.

A run's start lag is its first attempt's start minus its scheduled time (`start_lag_ms`).
Percentiles come from lags counted in buckets (`lag_bucket_ms`), so they are exact to within
one bucket: 10 ms below 1 s, 100 ms below 10 s, 1 s below 100 s, 10 s above. The count on
time and the maximum are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

TARGET_MS = 10_000
# A late start this recent still counts as the promise broken now.
RECENT = timedelta(minutes=5)
PERCENTILES = (0.50, 0.95, 0.99)


def lag_bucket_ms(lag_ms: int) -> int:
    """The bucket a lag is counted in, as the SQL computes it (truncating toward zero).

    Example: `lag_bucket_ms(537) == 530`, `lag_bucket_ms(12_345) == 12_000`."""
    width = _bucket_width_ms(lag_ms)
    return int(lag_ms / width) * width


def _bucket_top_ms(bucket_ms: int) -> int:
    """The largest lag a (non-negative) bucket holds: `_bucket_top_ms(530) == 539`."""
    return bucket_ms + _bucket_width_ms(bucket_ms) - 1 if bucket_ms >= 0 else bucket_ms


def _bucket_width_ms(lag_ms: int) -> int:
    magnitude = abs(lag_ms)
    if magnitude < 1_000:
        return 10
    if magnitude < 10_000:
        return 100
    return 1_000 if magnitude < 100_000 else 10_000


def percentile_ms(buckets: Mapping[int, int], quantile: float, max_ms: int) -> int:
    """The nearest-rank `quantile` of the lags counted in `buckets` (bucket -> count), as the
    top of its bucket but never above the exact `max_ms`.

    Example: 90 lags in bucket 200 and 10 in bucket 12_000 (max 12_400): p50 is 209 ms,
    p95 is 12_400 ms (the bucket's top, 12_999, capped at the maximum)."""
    total = sum(buckets.values())
    if total == 0:
        raise ValueError("no lags to take a percentile of")
    rank = max(1, math.ceil(quantile * total))
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return min(_bucket_top_ms(bucket), max_ms)
    return max_ms


@dataclass(frozen=True, slots=True)
class LagMinute:
    """The runs scheduled in one minute that have started, and how late."""

    minute: datetime
    started: int
    on_time: int
    p50_ms: int
    p95_ms: int
    p99_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class LagBucket:
    """The started rows of one minute whose lag falls in one bucket: how many, how many
    within the target, and the largest lag among them."""

    minute: datetime
    bucket_ms: int
    started: int
    on_time: int
    max_ms: int


def lag_minutes(buckets: Iterable[LagBucket]) -> list[LagMinute]:
    """One `LagMinute` per minute with started rows, ascending: the buckets' counts added up,
    the largest of their maxima, and the percentiles from the bucket counts.

    Example: buckets (10:00, 100 ms) x2 on time with max 105 and (10:00, 420 ms) x1 on time
    with max 420 give 10:00: 3 started, 3 on time, p50 109 ms, p95 420 ms, max 420 ms."""
    per_minute: dict[datetime, list[LagBucket]] = {}
    for bucket in buckets:
        per_minute.setdefault(bucket.minute, []).append(bucket)
    result = []
    for minute, parts in sorted(per_minute.items()):
        counted = {part.bucket_ms: part.started for part in parts}
        max_ms = max(part.max_ms for part in parts)
        p50, p95, p99 = (percentile_ms(counted, q, max_ms) for q in PERCENTILES)
        started, on_time = sum(part.started for part in parts), sum(part.on_time for part in parts)
        result.append(LagMinute(minute, started, on_time, p50, p95, p99, max_ms))
    return result


@dataclass(frozen=True, slots=True)
class WaitingType:
    """Rows of one task type that are due and not started: all of them, those due more than
    the target ago (late already), and the oldest one's scheduled time."""

    task_type: str
    due: int
    late: int
    oldest: datetime


@dataclass(frozen=True, slots=True)
class OnTimeVerdict:
    broken: bool
    started: int
    on_time: int
    late_waiting: int
    oldest_waiting_s: float | None
    reasons: tuple[str, ...]

    @property
    def on_time_share(self) -> float | None:
        """Share of the started runs that started within the target; None without any."""
        return self.on_time / self.started if self.started else None


def judge(
    minutes: Sequence[LagMinute],
    waiting: Sequence[WaitingType],
    now: datetime,
    target_ms: int = TARGET_MS,
) -> OnTimeVerdict:
    """Is the promise (every run starts within `target_ms` of its time) broken now?

    Broken when a row due more than `target_ms` ago has still not started, or when a run
    scheduled within the last `RECENT` (5 min) started later than the target. Example:
    processors stopped at 10:00 and a row due at 10:00:00 waits at 10:00:30: broken, one
    late row, oldest waiting 30 s."""
    started = sum(m.started for m in minutes)
    on_time = sum(m.on_time for m in minutes)
    late_waiting = sum(w.late for w in waiting)
    oldest = min((w.oldest for w in waiting), default=None)
    oldest_s = (now - oldest).total_seconds() if oldest is not None else None
    reasons = []
    if late_waiting:
        reasons.append(
            f"{late_waiting} runs due more than {target_ms / 1000:g} s ago have not started "
            f"(oldest waiting {oldest_s:.0f} s)"
        )
    recent = [m for m in minutes if m.minute >= now - RECENT and m.max_ms > target_ms]
    if recent:
        late_recent = sum(m.started - m.on_time for m in recent)
        worst = max(m.max_ms for m in recent)
        reasons.append(
            f"{late_recent} runs of the last {RECENT.seconds // 60} minutes started later than "
            f"{target_ms / 1000:g} s (worst {worst / 1000:.1f} s)"
        )
    return OnTimeVerdict(bool(reasons), started, on_time, late_waiting, oldest_s, tuple(reasons))
