"""Small builders for database tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select

from engine.adapters.tables import task_runs, task_schedule
from engine.services.schemas import TaskInput
from engine.services.tasks import Task, create_task


def add_cron_task(engine: Engine, now: datetime, expression: str, zone: str = "UTC", **extra: Any) -> Task:
    spec = TaskInput(
        name=extra.pop("name", f"cron {expression}"),
        task_type=extra.pop("task_type", "http"),
        kind="cron",  # type: ignore[arg-type]
        cron_expression=expression,
        timezone=zone,
        **extra,
    )
    return create_task(engine, spec, now)


def schedule_rows(engine: Engine, task_id: int | None = None) -> list[tuple[int, datetime, str]]:
    query = select(task_schedule.c.task_id, task_schedule.c.scheduled_time, task_schedule.c.status)
    if task_id is not None:
        query = query.where(task_schedule.c.task_id == task_id)
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                query.order_by(task_schedule.c.scheduled_time, task_schedule.c.task_id)
            )
        ]  # type: ignore[misc]


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(task_schedule)).scalar_one())


def record_run(engine: Engine, task_type: str, started_at: datetime, elapsed_ms: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(task_runs).values(
                task_type=task_type,
                attempt=1,
                started_at=started_at,
                finished_at=started_at,
                elapsed_ms=elapsed_ms,
                outcome="succeeded",
            )
        )


def add_tasks(
    engine: Engine,
    count: int,
    now: datetime,
    payload: dict[str, Any],
    task_type: str = "http",
    kind: str = "immediate",
    run_at: datetime | None = None,
) -> list[int]:
    """Insert `count` active tasks in one statement; the Scheduler makes their rows."""
    from engine.adapters.tables import tasks

    with engine.begin() as connection:
        rows = connection.execute(
            insert(tasks).returning(tasks.c.id),
            [
                {
                    "name": f"{kind} {i}",
                    "task_type": task_type,
                    "kind": kind,
                    "run_at": run_at,
                    "payload": payload,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
        return [int(row[0]) for row in rows]


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(task_schedule.c.status, func.count()).group_by(task_schedule.c.status)
        ).all()
    return {status: int(count) for status, count in rows}


def add_task_type(engine: Engine, name: str, handler: str, max_attempts: int = 3, **config: Any) -> None:
    from engine.adapters.tables import task_types

    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name=name,
                handler=handler,
                expected_duration_ms=10,
                timeout_ms=5_000,
                max_attempts=max_attempts,
                config=config,
            )
        )
