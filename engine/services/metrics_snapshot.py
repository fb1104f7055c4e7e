"""The numbers behind `/metrics`, read from the database at scrape time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from engine.adapters.database import read_connection
from engine.adapters.forecast_store import count_live_processors, summarize_scheduled_minutes
from engine.adapters.operations_store import sum_live_worker_slots
from engine.adapters.reconcile_store import redriven_totals
from engine.adapters.skip_counts import skip_totals
from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import task_schedule
from engine.core.forecast import MINUTE, floor_minute
from engine.core.histogram import weighted_cumulative_buckets
from engine.core.types import ScheduleStatus
from engine.services.forecast import LIVE_PROCESSOR_WINDOW

START_LAG_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# "Recent" starts: the lag histogram covers the runs started in this window before `now`,
# at most the newest MAX_LAG_SAMPLES of them, so a scrape costs the same on any history.
START_LAG_WINDOW = timedelta(hours=1)
MAX_LAG_SAMPLES = 100_000


# The statuses of rows with work left, the ones `headway_tasks{status}` reports: a Failed
# row waiting for its retry, a Dead row not discarded. Finished rows are history, counted as
# runs by outcome (`headway_task_runs`), so the scrape costs the same with a year kept.
OPEN_STATUSES = (
    ScheduleStatus.SCHEDULED,
    ScheduleStatus.QUEUED,
    ScheduleStatus.RUNNING,
    ScheduleStatus.FAILED,
    ScheduleStatus.DEAD,
)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    tasks_by_status: dict[str, int]  # rows with work left, per OPEN_STATUSES
    runs_by_outcome: dict[str, int]  # attempts recorded: "succeeded", "failed"
    start_lag_buckets: list[tuple[float, int]]  # cumulative (upper bound in s, count)
    start_lag_sum_s: float
    required_instances: int
    current_instances: int  # worker slots of the live processors: the formula's instances
    live_processors: int
    redriven_by_kind: dict[str, int]  # rows the reconciliation drove on, ever, per kind
    skipped_by_reason: dict[str, int] = field(default_factory=dict)  # fire times Skipped, ever


def collect_metrics(engine: Engine, now: datetime) -> MetricsSnapshot:
    """Rows with work left per status (every one of OPEN_STATUSES, zero included), attempts
    recorded per outcome (rollups plus the runs past their watermark), the start lag of recent starts
    (the first attempt's, recorded as `start_lag_ms` by the Processor, so retries' backoff does
    not count as lag; `started_at - scheduled_time` for rows without it), and required
    (current minute, from the summary view) against the instances running now, counted as
    the formula counts them: worker slots (the live processors' concurrency added up)."""
    by_status = {status.value: 0 for status in OPEN_STATUSES}
    recent = (
        select(task_schedule.c.scheduled_time, task_schedule.c.started_at, task_schedule.c.start_lag_ms)
        .where(task_schedule.c.started_at >= now - START_LAG_WINDOW, task_schedule.c.started_at <= now)
        .order_by(task_schedule.c.started_at.desc())
        .limit(MAX_LAG_SAMPLES)
        .subquery()
    )
    # Counted per lag value by the database: an hour of a busy fleet's starts (tens of
    # thousands of rows) comes back as the few thousand distinct lags among them. Rows
    # without start_lag_ms (started before the Processor recorded it) are read one by one.
    lag_counts = select(recent.c.start_lag_ms, func.count()).group_by(recent.c.start_lag_ms)
    unrecorded = select(recent.c.scheduled_time, recent.c.started_at).where(recent.c.start_lag_ms.is_(None))
    minute = floor_minute(now)
    with read_connection(engine) as connection:
        for status, count in connection.execute(bound_query(connection, "count_open_rows_by_status")):
            by_status[status] = int(count)
        succeeded, failed = connection.execute(bound_query(connection, "count_runs_by_outcome")).one()
        lags_s: list[tuple[float, int]] = []  # (lag, how many runs)
        for lag_ms, run_count in connection.execute(lag_counts).all():
            if lag_ms is not None:
                lags_s.append((lag_ms / 1000, int(run_count)))
            else:
                lags_s += [
                    ((row.started_at - row.scheduled_time).total_seconds(), 1)
                    for row in connection.execute(unrecorded)
                ]
        current_minute = summarize_scheduled_minutes(connection, minute, minute + MINUTE)
        slots = sum_live_worker_slots(connection, now - LIVE_PROCESSOR_WINDOW)
        processors = count_live_processors(connection, now - LIVE_PROCESSOR_WINDOW)
        redriven = redriven_totals(connection)
        skipped = skip_totals(connection)
    return MetricsSnapshot(
        tasks_by_status=by_status,
        runs_by_outcome={"succeeded": int(succeeded), "failed": int(failed)},
        start_lag_buckets=weighted_cumulative_buckets(lags_s, START_LAG_BUCKETS_S),
        start_lag_sum_s=sum(lag * count for lag, count in lags_s),
        required_instances=int(current_minute[0].required_instances) if current_minute else 0,
        current_instances=slots,
        live_processors=processors,
        redriven_by_kind=redriven,
        skipped_by_reason=skipped,
    )
