"""Attempts per task type over a window: failure rate over time, duration percentiles, the
average over successes beside the average over all attempts (which the formula's view uses),
and run counts per outcome. One named query groups the window's attempts; the folding is
`engine.core.attempt_stats.summarize_attempts`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Engine, Integer, Text

from engine.adapters.database import read_connection
from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime
from engine.core.attempt_stats import AttemptGroup, AttemptSummary, summarize_attempts


def attempt_summary(engine: Engine, start: datetime, end: datetime) -> AttemptSummary:
    """Every Metrics figure of the attempts started in [start, end), from one scan of them:
    durations per type (by type name), finished attempts and failures per UTC hour and type
    (by hour, then type; hours without attempts are absent), and attempts started per type
    and outcome (None: not finished)."""
    with read_connection(engine) as connection:
        query = (
            bound_query(connection, "summarize_attempts_per_hour_type_and_bucket")
            .columns(
                hour=UTCDateTime(),
                task_type=Text(),
                outcome=Text(),
                finished=Integer(),
                bucket_ms=Integer(),
                attempt_count=BigInteger(),
                elapsed_ms_sum=BigInteger(),
                max_elapsed_ms=Integer(),
            )
        )
        rows = connection.execute(query, {"window_start": start, "window_end": end}).all()
    return summarize_attempts(
        AttemptGroup(
            hour=row.hour,
            task_type=row.task_type,
            outcome=row.outcome,
            finished=bool(row.finished),
            bucket_ms=None if row.bucket_ms is None else int(row.bucket_ms),
            attempts=int(row.attempt_count),
            elapsed_ms_sum=int(row.elapsed_ms_sum),
            max_elapsed_ms=None if row.max_elapsed_ms is None else int(row.max_elapsed_ms),
        )
        for row in rows
    )
