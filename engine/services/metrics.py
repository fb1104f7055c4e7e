"""Read-only figures about task types, runs and processors, for the dashboard and notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from engine.adapters.database import read_connection
from engine.adapters.tables import average_elapsed_time_per_task_type, task_runs, task_types, tasks


@dataclass(frozen=True, slots=True)
class TaskTypeMetrics:
    """A type's expected duration, and its past year's average elapsed time and run count
    (from the `average_elapsed_time_per_task_type` view; None and 0 without history)."""

    task_type: str
    expected_duration_ms: int
    avg_elapsed_ms: int | None
    run_count: int

    @property
    def planned_compute_ms(self) -> int:
        """What the forecast counts per run: the average, else the expected duration."""
        return self.expected_duration_ms if self.avg_elapsed_ms is None else self.avg_elapsed_ms


@dataclass(frozen=True, slots=True)
class RunCount:
    task_type: str
    outcome: str | None
    run_count: int


@dataclass(frozen=True, slots=True)
class RecentRun:
    id: int
    task_id: int | None
    task_name: str | None
    task_type: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    elapsed_ms: int | None
    outcome: str | None
    error: str | None


def list_task_type_names(engine: Engine) -> list[str]:
    with read_connection(engine) as connection:
        return list(connection.execute(select(task_types.c.name).order_by(task_types.c.name)).scalars())


def task_type_metrics(engine: Engine) -> list[TaskTypeMetrics]:
    """Every known type, plus types that have history but no longer a definition."""
    view = average_elapsed_time_per_task_type
    with read_connection(engine) as connection:
        expected = {
            row.name: int(row.expected_duration_ms)
            for row in connection.execute(select(task_types.c.name, task_types.c.expected_duration_ms))
        }
        history = {
            row.task_type: (int(row.avg_elapsed_ms), int(row.run_count))
            for row in connection.execute(select(view.c.task_type, view.c.avg_elapsed_ms, view.c.run_count))
        }
    return [
        TaskTypeMetrics(
            task_type=name,
            expected_duration_ms=expected.get(name, 0),
            avg_elapsed_ms=history[name][0] if name in history else None,
            run_count=history[name][1] if name in history else 0,
        )
        for name in sorted(expected.keys() | history.keys())
    ]


def run_counts(engine: Engine, since: datetime) -> list[RunCount]:
    """Runs started at or after `since`, per type and outcome (None: not finished)."""
    query = (
        select(task_runs.c.task_type, task_runs.c.outcome, func.count().label("run_count"))
        .where(task_runs.c.started_at >= since)
        .group_by(task_runs.c.task_type, task_runs.c.outcome)
        .order_by(task_runs.c.task_type, task_runs.c.outcome)
    )
    with read_connection(engine) as connection:
        return [RunCount(row.task_type, row.outcome, int(row.run_count)) for row in connection.execute(query)]


def recent_runs(engine: Engine, limit: int = 50) -> list[RecentRun]:
    """The latest `limit` runs, newest start first, with their task's name when it exists."""
    query = (
        select(task_runs, tasks.c.name.label("task_name"))
        .outerjoin(tasks, tasks.c.id == task_runs.c.task_id)
        .order_by(task_runs.c.started_at.desc(), task_runs.c.id.desc())
        .limit(limit)
    )
    with read_connection(engine) as connection:
        return [
            RecentRun(
                id=int(row.id),
                task_id=row.task_id,
                task_name=row.task_name,
                task_type=row.task_type,
                attempt=int(row.attempt),
                started_at=row.started_at,
                finished_at=row.finished_at,
                elapsed_ms=row.elapsed_ms,
                outcome=row.outcome,
                error=row.error,
            )
            for row in connection.execute(query)
        ]

