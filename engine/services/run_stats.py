"""Attempts per task type over a window: failure rate over time, duration percentiles, and
the average over successes beside the average over all attempts (which the formula's view
uses). Reads named queries; the percentile maths is `engine.core.on_time.percentile_ms`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Engine, Integer, Text, TextClause, bindparam, text

from engine.adapters.database import read_connection
from engine.adapters.sql_queries import named_query
from engine.adapters.tables import UTCDateTime
from engine.core.on_time import percentile_ms


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


def _windowed(dialect: str, name: str) -> TextClause:
    return text(named_query(dialect, name)).bindparams(
        bindparam("window_start", type_=UTCDateTime()), bindparam("window_end", type_=UTCDateTime())
    )


def type_durations(engine: Engine, start: datetime, end: datetime) -> list[TypeDurations]:
    """Per type, the finished attempts started in [start, end), by type name.

    Example: http attempts of 100, 200 and 400 ms that succeeded and one of 1,000 ms that
    timed out: 4 attempts, 1 failed, average 425 ms over all, 233 ms over successes, p50
    209 ms (the top of the 200 ms bucket), p95 1,000 ms."""
    window = {"window_start": start, "window_end": end}
    with read_connection(engine) as connection:
        dialect = connection.dialect.name
        summaries = connection.execute(
            _windowed(dialect, "summarize_attempts_per_type").columns(
                task_type=Text(),
                attempt_count=BigInteger(),
                failed_count=BigInteger(),
                avg_elapsed_ms=BigInteger(),
                avg_succeeded_ms=BigInteger(),
                max_elapsed_ms=Integer(),
            ),
            window,
        ).all()
        buckets: dict[str, dict[int, int]] = {}
        for row in connection.execute(
            _windowed(dialect, "count_durations_per_type_and_bucket").columns(
                task_type=Text(), bucket_ms=Integer(), run_count=BigInteger()
            ),
            window,
        ):
            buckets.setdefault(row.task_type, {})[int(row.bucket_ms)] = int(row.run_count)
    return [
        TypeDurations(
            task_type=row.task_type,
            attempts=int(row.attempt_count),
            failed=int(row.failed_count),
            avg_elapsed_ms=int(row.avg_elapsed_ms),
            avg_succeeded_ms=None if row.avg_succeeded_ms is None else int(row.avg_succeeded_ms),
            p50_ms=percentile_ms(buckets[row.task_type], 0.50, int(row.max_elapsed_ms)),
            p95_ms=percentile_ms(buckets[row.task_type], 0.95, int(row.max_elapsed_ms)),
            max_ms=int(row.max_elapsed_ms),
        )
        for row in summaries
    ]


def failures_per_hour(engine: Engine, start: datetime, end: datetime) -> list[FailureHour]:
    """Finished attempts started in [start, end) per UTC hour and type, with the failed ones,
    ascending by hour then type; hours without attempts are absent."""
    with read_connection(engine) as connection:
        rows = connection.execute(
            _windowed(connection.dialect.name, "count_attempts_per_hour_and_type").columns(
                hour=UTCDateTime(), task_type=Text(), attempt_count=BigInteger(), failed_count=BigInteger()
            ),
            {"window_start": start, "window_end": end},
        )
        return [
            FailureHour(row.hour, row.task_type, int(row.attempt_count), int(row.failed_count))
            for row in rows
        ]
