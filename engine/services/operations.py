"""The operational figures `/metrics` adds for alerting and autoscaling: rows nobody
published, worker slots running against those the forecast asks for, and how far behind the
Scheduler is. Alert rules in deploy/prometheus/ are written against these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from engine.adapters.database import read_connection
from engine.adapters.operations_store import (
    count_overdue_rows,
    earliest_cron_coverage,
    oldest_unscheduled_change,
    sum_live_worker_slots,
)
from engine.core.processor_target import ProcessorTarget
from engine.services.forecast import LIVE_PROCESSOR_WINDOW
from engine.services.scaling import processors_target

# A Scheduled row this late has missed the Distributor: it polls at least once a second, so a
# minute leaves room for a slow batch and clock skew between hosts.
OVERDUE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class OperationsSnapshot:
    overdue_rows: int
    running_worker_slots: int
    target: ProcessorTarget
    schedule_coverage_s: float | None  # None: no active cron task
    unscheduled_age_s: float  # 0: every active task has been picked up


def collect_operations(
    engine: Engine, now: datetime, lead_minutes: int, cooldown_minutes: int, concurrency: int
) -> OperationsSnapshot:
    """The figures at `now`; the target is the one `/scaling/processors` returns for the same
    lead, cool-down and concurrency.

    Example: a cron task materialised until 13:00 read at 10:00 gives a coverage of 10,800 s;
    a task created at 09:59:30 that no pass has picked up yet gives an age of 30 s."""
    with read_connection(engine) as connection:
        overdue = count_overdue_rows(connection, now - OVERDUE_AFTER)
        slots = sum_live_worker_slots(connection, now - LIVE_PROCESSOR_WINDOW)
        covered = earliest_cron_coverage(connection)
        waiting_since = oldest_unscheduled_change(connection)
    return OperationsSnapshot(
        overdue_rows=overdue,
        running_worker_slots=slots,
        target=processors_target(engine, now, lead_minutes, cooldown_minutes, concurrency),
        schedule_coverage_s=None if covered is None else (covered - now).total_seconds(),
        unscheduled_age_s=0.0 if waiting_since is None else max(0.0, (now - waiting_since).total_seconds()),
    )
