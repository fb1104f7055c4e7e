"""`headway calibrate` and `--calibrate`: read recorded runs, fit them (`simulation.calibration`),
and apply the fit to a workload and a dispatch.

Reads, through SQLAlchemy Core, the `task_runs` started in `[now - hours, now)` joined to
their `task_schedule` row (due and queued times) and the `task_types` (timeout, attempts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from engine.adapters.database import read_connection
from engine.adapters.tables import task_runs, task_schedule, task_types
from simulation.attempts import AttemptModel
from simulation.calibration import (
    AttemptFit,
    DispatchFit,
    DurationFit,
    fit_attempts,
    fit_dispatch,
    fit_durations,
)
from simulation.outcome import Dispatch
from simulation.workload import Workload

MAX_RUNS = 500_000  # the most recent runs read; a fit needs far fewer


@dataclass(frozen=True, slots=True)
class TypeCalibration:
    durations: DurationFit
    attempts: AttemptFit
    timeout_ms: int | None
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Calibration:
    since: datetime
    until: datetime
    dispatch: DispatchFit | None
    types: dict[str, TypeCalibration]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "dispatch": None
            if self.dispatch is None
            else {
                "release_delay_ms": round(self.dispatch.release_delay_ms, 3),
                "dispatch_overhead_ms": round(self.dispatch.dispatch_overhead_ms, 3),
                "first_attempts": self.dispatch.rows,
            },
            "task_types": {
                name: {
                    "duration": fit.durations.describe(),
                    "failure_probability": round(fit.attempts.failure_probability, 5),
                    "attempts_per_run": round(fit.attempts.attempts_per_run, 4),
                    "attempts": fit.attempts.attempts,
                    "timeouts": fit.attempts.timeouts,
                    "timeout_ms": fit.timeout_ms,
                    "max_attempts": fit.max_attempts,
                }
                for name, fit in sorted(self.types.items())
            },
        }


def calibrate(engine: Engine, now: datetime, hours: float) -> Calibration:
    """The fit of the runs started in the `hours` before `now`. Types without a successful
    run are left out (the workload's own model stays)."""
    since = now - timedelta(hours=hours)
    query = (
        select(
            task_runs.c.task_type,
            task_runs.c.attempt,
            task_runs.c.outcome,
            task_runs.c.elapsed_ms,
            task_runs.c.started_at,
            task_runs.c.schedule_id,
            task_schedule.c.scheduled_time,
            task_schedule.c.queued_at,
        )
        .join(task_schedule, task_schedule.c.id == task_runs.c.schedule_id)
        .where(task_runs.c.started_at >= since, task_runs.c.started_at < now)
        .order_by(task_runs.c.started_at.desc())
        .limit(MAX_RUNS)
    )
    with read_connection(engine) as connection:
        rows = connection.execute(query).all()
        limits = {
            row.name: (int(row.timeout_ms), int(row.max_attempts))
            for row in connection.execute(
                select(task_types.c.name, task_types.c.timeout_ms, task_types.c.max_attempts)
            )
        }
    elapsed: dict[str, list[int]] = defaultdict(list)
    outcomes: dict[str, list[str]] = defaultdict(list)
    schedules: dict[str, set[int]] = defaultdict(set)
    due_to_queued, queued_to_started, first_starts, finishes = [], [], [], []
    epoch = since
    for row in rows:
        if row.elapsed_ms is not None:
            finish = row.started_at + timedelta(milliseconds=int(row.elapsed_ms))
            finishes.append((finish - epoch) / timedelta(milliseconds=1))
        outcomes[row.task_type].append(row.outcome or "unknown")
        schedules[row.task_type].add(row.schedule_id)
        if row.outcome == "succeeded" and row.elapsed_ms is not None:
            elapsed[row.task_type].append(int(row.elapsed_ms))
        if row.attempt == 1 and row.queued_at is not None:
            due_to_queued.append((row.queued_at - row.scheduled_time) / timedelta(milliseconds=1))
            queued_to_started.append((row.started_at - row.queued_at) / timedelta(milliseconds=1))
            first_starts.append((row.started_at - epoch) / timedelta(milliseconds=1))
    types = {}
    for name, samples in elapsed.items():
        timeout_ms, max_attempts = limits.get(name, (None, 1))
        types[name] = TypeCalibration(
            fit_durations(np.array(samples)),
            fit_attempts(outcomes[name], len(schedules[name])),
            timeout_ms,
            max_attempts,
        )
    dispatch = (
        fit_dispatch(
            np.array(due_to_queued),
            np.array(queued_to_started),
            np.array(first_starts),
            np.array(finishes),
        )
        if due_to_queued
        else None
    )
    return Calibration(since, now, dispatch, types)


def apply_calibration(
    calibration: Calibration, workload: Workload, dispatch: Dispatch
) -> tuple[Workload, Dispatch]:
    """The workload with each calibrated type's fitted durations and attempts, and the
    dispatch releasing tasks the measured delay after they are due (no poll grid: the
    distributor sleeps until the next row is due) with the measured overhead."""
    types = dict(workload.types)
    attempts = dict(workload.attempts)
    for name, fit in calibration.types.items():
        if name in types:
            types[name] = fit.durations.model
            attempts[name] = AttemptModel(
                fit.attempts.failure_probability, fit.max_attempts, fit.timeout_ms
            )
    if calibration.dispatch is not None:
        dispatch = replace(
            dispatch,
            poll_interval_us=0,
            release_delay_us=round(calibration.dispatch.release_delay_ms * 1_000),
            overhead_us=round(calibration.dispatch.dispatch_overhead_ms * 1_000),
        )
    return Workload(types, workload.tasks, attempts), dispatch


def format_calibration(calibration: Calibration) -> str:
    """The text `headway calibrate` prints."""
    lines = [f"Runs started {calibration.since:%Y-%m-%d %H:%M} to {calibration.until:%Y-%m-%d %H:%M} UTC"]
    if calibration.dispatch is None:
        lines.append("Dispatch    no first attempts with a queued time: nothing to measure")
    else:
        d = calibration.dispatch
        lines.append(
            f"Dispatch    release delay {d.release_delay_ms:.1f} ms (median due to queued), "
            f"overhead {d.dispatch_overhead_ms:.1f} ms, "
            f"{d.rows:,} first attempts"
        )
    lines.append(
        f"{'task type':<20} {'model':<12} {'mean ms':>10} {'p95 ms':>10} {'runs':>8} "
        f"{'fail p':>8} {'att/run':>8} {'timeouts':>8}"
    )
    for name, fit in sorted(calibration.types.items()):
        model = fit.durations.model
        p95 = "" if model.p95_ms is None else f"{model.p95_ms:.0f}"
        lines.append(
            f"{name:<20} {model.kind.value:<12} {model.mean_ms:>10.1f} {p95:>10} "
            f"{fit.attempts.runs:>8,} {fit.attempts.failure_probability:>8.4f} "
            f"{fit.attempts.attempts_per_run:>8.3f} {fit.attempts.timeouts:>8,}"
        )
    if not calibration.types:
        lines.append("(no successful runs in the window)")
    return "\n".join(lines)
