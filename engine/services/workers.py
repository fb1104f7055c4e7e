"""Live processors and what they do: worker slots (the formula's instances), runs in flight
and throughput per minute, for the dashboard's Capacity and Workers pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Engine, Text, func, select

from engine.adapters.database import read_connection
from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime, processor_heartbeats, task_types, tasks
from engine.services.forecast import LIVE_PROCESSOR_WINDOW

# A run is Running for at most its type's timeout; this margin covers the processor's
# own lag in recording the outcome.
RUNNING_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class LiveProcessor:
    processor_id: str
    hostname: str
    pid: int
    concurrency: int
    started_at: datetime
    last_seen_at: datetime
    running: int


@dataclass(frozen=True, slots=True)
class ThroughputMinute:
    minute: datetime
    succeeded: int
    failed: int


def worker_slots(processors: list[LiveProcessor]) -> int:
    """The formula's instances running now: one instance runs one task at a time, so a
    processor with concurrency 4 is 4 instances. Example: processors of concurrency 4 and 1
    give 5."""
    return sum(p.concurrency for p in processors)


def live_processors(engine: Engine, now: datetime) -> list[LiveProcessor]:
    """Processors with a heartbeat within `LIVE_PROCESSOR_WINDOW` (30 s) of `now`, by host
    and pid, each with the rows it holds Running."""
    with read_connection(engine) as connection:
        beats = connection.execute(
            select(processor_heartbeats)
            .where(processor_heartbeats.c.last_seen_at >= now - LIVE_PROCESSOR_WINDOW)
            .order_by(processor_heartbeats.c.hostname, processor_heartbeats.c.pid)
        ).all()
        # A task's own timeout may be longer than its type's.
        longest_ms = max(
            connection.execute(select(func.max(task_types.c.timeout_ms))).scalar() or 0,
            (connection.execute(select(func.max(tasks.c.timeout_s))).scalar() or 0) * 1000,
        )
        running_query = (
            bound_query(connection, "count_running_rows_per_processor")
            .columns(processor_id=Text(), running_count=BigInteger())
        )
        since = now - timedelta(milliseconds=int(longest_ms)) - RUNNING_MARGIN
        running = {
            row.processor_id: int(row.running_count)
            for row in connection.execute(running_query, {"started_after": since})
        }
    return [
        LiveProcessor(
            processor_id=beat.processor_id,
            hostname=beat.hostname,
            pid=int(beat.pid),
            concurrency=int(beat.concurrency),
            started_at=beat.started_at,
            last_seen_at=beat.last_seen_at,
            running=running.get(beat.processor_id, 0),
        )
        for beat in beats
    ]


def throughput_per_minute(engine: Engine, start: datetime, end: datetime) -> list[ThroughputMinute]:
    """Attempts started in [start, end) that finished, per UTC minute of their finish,
    ascending; minutes without any are absent."""
    with read_connection(engine) as connection:
        query = (
            bound_query(connection, "count_finished_runs_per_minute")
            .columns(minute=UTCDateTime(), succeeded_count=BigInteger(), failed_count=BigInteger())
        )
        rows = connection.execute(query, {"window_start": start, "window_end": end})
        return [ThroughputMinute(row.minute, int(row.succeeded_count), int(row.failed_count)) for row in rows]
