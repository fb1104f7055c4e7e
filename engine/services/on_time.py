"""The On time report: start lag per minute against the target, rows due and not started,
and whether the promise is broken now. Reads the named queries of `sql/<dialect>/queries.sql`;
the maths is `engine.core.on_time`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Connection, Engine, Integer, Text

from engine.adapters.database import read_connection
from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime
from engine.core.forecast import floor_minute
from engine.core.on_time import (
    TARGET_MS,
    LagBucket,
    LagMinute,
    OnTimeVerdict,
    WaitingType,
    judge,
    lag_minutes,
)


@dataclass(frozen=True, slots=True)
class OnTimeReport:
    window_start: datetime
    target_ms: int
    minutes: list[LagMinute]
    waiting: list[WaitingType]
    verdict: OnTimeVerdict


def waiting_by_type(engine: Engine, now: datetime, target_ms: int = TARGET_MS) -> list[WaitingType]:
    """Rows due by `now` that no processor has started (Scheduled or Queued), per type: the
    queue depth, in the database's words."""
    with read_connection(engine) as connection:
        return _waiting(connection, now, target_ms)


def _waiting(connection: Connection, now: datetime, target_ms: int) -> list[WaitingType]:
    rows = connection.execute(
        bound_query(connection, "summarize_waiting_rows_by_type").columns(
            task_type=Text(), due_count=BigInteger(), late_count=BigInteger(), oldest=UTCDateTime()
        ),
        {"now": now, "late_before": now - timedelta(milliseconds=target_ms)},
    )
    return [WaitingType(row.task_type, int(row.due_count), int(row.late_count), row.oldest) for row in rows]


def on_time_report(
    engine: Engine, now: datetime, hours: float = 3, target_ms: int = TARGET_MS
) -> OnTimeReport:
    """Runs scheduled from `hours` before the minute of `now` up to `now`: per minute, how
    many started, how many within `target_ms`, lag p50/p95/p99/max; and the rows due by
    `now` that no processor has started, per type.

    Example: a row due at 10:00:00 that started at 10:00:12 counts in minute 10:00 as
    started, not on time, max 12,000 ms; a row due at 10:01:00 still Queued at 10:01:30 is
    one late waiting row, its oldest 30 s old."""
    start = floor_minute(now) - timedelta(hours=hours)
    window = {"window_start": start, "window_end": now, "target_ms": target_ms}
    with read_connection(engine) as connection:
        rows = connection.execute(
            bound_query(connection, "summarize_start_lags_per_minute_and_bucket").columns(
                minute=UTCDateTime(),
                bucket_ms=Integer(),
                run_count=BigInteger(),
                on_time_count=BigInteger(),
                max_lag_ms=Integer(),
            ),
            window,
        ).all()  # thousands of rows: fetched at once, not one round of the driver per row
        buckets = [
            LagBucket(
                row.minute,
                int(row.bucket_ms),
                int(row.run_count),
                int(row.on_time_count),
                int(row.max_lag_ms),
            )
            for row in rows
        ]
        waiting = _waiting(connection, now, target_ms)
    minutes = lag_minutes(buckets)
    return OnTimeReport(start, target_ms, minutes, waiting, judge(minutes, waiting, now, target_ms))
