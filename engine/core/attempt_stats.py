"""Attempts of a window folded into the Metrics page's figures: duration percentiles and
averages per type, failure rate per hour and type, and run counts per type and outcome.

The database groups the window's attempts once, by (hour, type, outcome, finished, elapsed
bucket), in `summarize_attempts_per_hour_type_and_bucket`; every figure is a sum over those
groups, so one scan of the window feeds every chart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engine.core.on_time import percentile_ms

SUCCEEDED = "succeeded"


@dataclass(frozen=True, slots=True)
class AttemptGroup:
    """Attempts started in one UTC `hour` of one type with one outcome (None: not finished),
    in one elapsed-time bucket (None: no elapsed time recorded), with the sum and the
    maximum of their elapsed times."""

    hour: datetime
    task_type: str
    outcome: str | None
    finished: bool
    bucket_ms: int | None
    attempts: int
    elapsed_ms_sum: int
    max_elapsed_ms: int | None


@dataclass(frozen=True, slots=True)
class TypeDurations:
    """A type's finished attempts in the window. `avg_elapsed_ms` is over every attempt, as
    the formula's view averages; `avg_succeeded_ms` over successes only (None without any).
    p50/p95 are exact to within one bucket (10 ms below 1 s, 100 ms below 10 s, ...)."""

    task_type: str
    attempts: int
    failed: int
    avg_elapsed_ms: int
    avg_succeeded_ms: int | None
    p50_ms: int
    p95_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class FailureHour:
    hour: datetime
    task_type: str
    attempts: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.attempts


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    durations: list[TypeDurations]  # by type name
    failures: list[FailureHour]  # by hour, then type
    run_counts: dict[tuple[str, str | None], int]  # (type, outcome or None) -> attempts started


@dataclass
class _TypeTally:
    attempts: int = 0
    failed: int = 0
    elapsed_ms_sum: int = 0
    succeeded: int = 0
    succeeded_ms_sum: int = 0
    max_ms: int = 0
    buckets: dict[int, int] = field(default_factory=dict)


def summarize_attempts(groups: Iterable[AttemptGroup]) -> AttemptSummary:
    """Durations count the attempts with an elapsed time, failures the finished ones, run
    counts every attempt started.

    Example: http attempts of 100, 200 and 400 ms that succeeded and one of 1,000 ms that
    timed out: 4 attempts, 1 failed, average 425 ms over all, 233 ms over successes, p50
    209 ms (the top of the 200 ms bucket), p95 1,000 ms. Averages round half up, as the
    formula's view does (`ROUND(AVG(...))`)."""
    types: dict[str, _TypeTally] = {}
    hours: dict[tuple[datetime, str], list[int]] = {}
    counts: dict[tuple[str, str | None], int] = {}
    for group in groups:
        key = (group.task_type, group.outcome)
        counts[key] = counts.get(key, 0) + group.attempts
        failed = group.attempts if group.outcome != SUCCEEDED else 0
        if group.finished:
            tally_hour = hours.setdefault((group.hour, group.task_type), [0, 0])
            tally_hour[0] += group.attempts
            tally_hour[1] += failed
        if group.bucket_ms is None or group.max_elapsed_ms is None:
            continue
        tally = types.setdefault(group.task_type, _TypeTally())
        tally.attempts += group.attempts
        tally.failed += failed
        tally.elapsed_ms_sum += group.elapsed_ms_sum
        if group.outcome == SUCCEEDED:
            tally.succeeded += group.attempts
            tally.succeeded_ms_sum += group.elapsed_ms_sum
        tally.max_ms = max(tally.max_ms, group.max_elapsed_ms)
        tally.buckets[group.bucket_ms] = tally.buckets.get(group.bucket_ms, 0) + group.attempts
    durations = [
        TypeDurations(
            task_type=name,
            attempts=tally.attempts,
            failed=tally.failed,
            avg_elapsed_ms=_rounded_mean(tally.elapsed_ms_sum, tally.attempts),
            avg_succeeded_ms=_rounded_mean(tally.succeeded_ms_sum, tally.succeeded)
            if tally.succeeded
            else None,
            p50_ms=percentile_ms(tally.buckets, 0.50, tally.max_ms),
            p95_ms=percentile_ms(tally.buckets, 0.95, tally.max_ms),
            max_ms=tally.max_ms,
        )
        for name, tally in sorted(types.items())
    ]
    failures = [FailureHour(hour, name, tally[0], tally[1]) for (hour, name), tally in sorted(hours.items())]
    return AttemptSummary(durations, failures, counts)


def _rounded_mean(total: int, count: int) -> int:
    """`total / count` rounded half up, in integers: `_rounded_mean(700, 3) == 233`,
    `_rounded_mean(5, 2) == 3`."""
    return (2 * total + count) // (2 * count)
