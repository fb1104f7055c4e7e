"""The Scheduler: turns active tasks into `task_schedule` rows ahead of the horizon.

A pass reads the clock once, locks the tasks that need rows, expands each distinct
(expression, zone, start) once, inserts set-based with ON CONFLICT DO NOTHING, records the
new materialisation marks and commits, all in one transaction. Any error rolls it all back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.adapters.database import describe_database_error
from engine.adapters.sql_stores import SqlScheduleStore
from engine.core.cron import CronError, CronSchedule, fire_times
from engine.core.horizon import materialisation_horizon
from engine.core.retry import compute_backoff_ms
from engine.core.runs import PendingTask, SchedulePlan
from engine.core.types import TaskKind
from engine.ports import Monotonic, Progress, ScheduleStore, StoreUnavailable

log = logging.getLogger("headway.scheduler")

# How often the loop looks for new or edited tasks between full passes, so that a task
# created a second ago does not wait a whole interval for its first row.
PICKUP_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class PassResult:
    horizon: datetime
    tasks_expanded: int
    rows_inserted: int


def run_pass(
    engine: Engine | None,
    now: datetime,
    forecast_hours: float = 3.0,
    window_hours: float | None = None,
    only_unmaterialised: bool = False,
    *,
    store: ScheduleStore | None = None,
) -> PassResult:
    """One Scheduler pass at `now` on `store` (by default the database of `engine`); see the
    module docstring. Idempotent."""
    horizon = materialisation_horizon(now, forecast_hours, window_hours)
    store = store or SqlScheduleStore(_required(engine))
    expanded, rows = store.materialise(
        horizon, only_unmaterialised, lambda pending: plan_rows(pending, horizon)
    )
    return PassResult(horizon=horizon, tasks_expanded=expanded, rows_inserted=rows)


def plan_rows(pending: Sequence[PendingTask], horizon: datetime) -> SchedulePlan:
    """The rows `pending` tasks get up to `horizon`: a cron task its fire times (each distinct
    expression, zone and start expanded once), a one-off task its single row."""
    marks: list[tuple[int, datetime]] = []
    cron_groups: dict[tuple[str, str, datetime], list[int]] = defaultdict(list)
    single_rows: list[tuple[int, datetime]] = []
    for task in pending:
        if task.kind is TaskKind.CRON:
            assert task.cron_expression is not None and task.timezone is not None
            cron_groups[(task.cron_expression, task.timezone, task.expand_from)].append(task.id)
            marks.append((task.id, horizon))
        else:
            # once: its run_at; immediate: the moment it was created or last edited,
            # a value every racing Scheduler agrees on.
            at = task.run_at if task.kind is TaskKind.ONCE else task.expand_from
            assert at is not None
            single_rows.append((task.id, at))
            marks.append((task.id, at))
    fire_time_groups = [
        (task_ids, _expand(expression, zone, start, horizon, task_ids))
        for (expression, zone, start), task_ids in cron_groups.items()
    ]
    return SchedulePlan(fire_time_groups, single_rows, marks)


def _required(engine: Engine | None) -> Engine:
    if engine is None:
        raise ValueError("engine: a database engine is required when no store is given")
    return engine


def _expand(
    expression: str, zone: str, start: datetime, horizon: datetime, task_ids: list[int]
) -> list[datetime]:
    try:
        return fire_times(CronSchedule(expression, zone), start, horizon)
    except CronError as error:
        # Stored tasks were validated on the way in; one that no longer parses (for example
        # a zone removed from tzdata) must not stop the whole fleet from being scheduled.
        log.error("tasks %s: cannot expand %r in %s: %s", task_ids, expression, zone, error)
        return []


def run_forever(
    engine: Engine | None,
    interval_s: float,
    forecast_hours: float,
    window_hours: float | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
    after_pass: Callable[[datetime], None] | None = None,
    *,
    store: ScheduleStore | None = None,
    monotonic: Monotonic = time.monotonic,
    prune: Callable[[datetime], None] | None = None,
) -> None:
    """Full passes every `interval_s`, and quick passes for new or edited tasks in between.
    After each successful pass `after_pass(now)` runs (default: the forecast snapshots of
    `engine.services.forecast_accuracy.SnapshotStep`, at most once a minute).

    A failed pass is logged and retried, the first time after `PICKUP_INTERVAL_S`, then after
    twice as long each time up to `interval_s`, so that a database that is down for a while
    gives a few log lines rather than one a second. A database error is logged as one line
    with the driver's reason; anything else with its traceback. Each pass, good or failed,
    is told to `progress`. The loop ends when `stop` is set. `monotonic` paces the full
    passes.

    `prune(now)`, when given, also runs after each successful pass: the history step
    (`engine.services.history.PruneStep`), which rolls up and prunes every few minutes.
    """
    stop = stop or threading.Event()
    store = store or SqlScheduleStore(_required(engine))
    if after_pass is None:
        from engine.services.forecast_accuracy import SnapshotStep

        after_pass = SnapshotStep(_required(engine))
    next_full = 0.0
    failures = 0
    while not stop.is_set():
        full = monotonic() >= next_full
        now = clock()
        try:
            result = run_pass(
                None, now, forecast_hours, window_hours, only_unmaterialised=not full, store=store
            )
        except (SQLAlchemyError, StoreUnavailable) as error:
            failures += 1
            log.error("pass failed, rolled back; retrying: %s", describe_database_error(error))
        except Exception:
            failures += 1
            log.exception("pass failed, rolled back; retrying")
        else:
            if failures:
                log.info("pass succeeded again after %d failed attempts", failures)
            failures = 0
            if full or result.tasks_expanded:
                log.info(
                    "%s pass: %d tasks, %d rows, horizon %s",
                    "full" if full else "pickup",
                    result.tasks_expanded,
                    result.rows_inserted,
                    result.horizon.isoformat(),
                )
            if full:
                next_full = monotonic() + interval_s
            after_pass(now)
            if prune is not None:
                prune(now)
        if progress is not None:
            progress(failures == 0)
        stop.wait(retry_delay_s(failures, interval_s))


def retry_delay_s(failures: int, interval_s: float) -> float:
    """Seconds until the next pass after `failures` failed passes in a row: the pickup
    interval, doubled per failure, never more than `interval_s`.
    Example: with a 60 s interval, 0, 1, 2, 3 and 7 failures wait 1, 2, 4, 8 and 60 s."""
    return compute_backoff_ms(failures + 1, round(PICKUP_INTERVAL_S * 1000), round(interval_s * 1000)) / 1000
