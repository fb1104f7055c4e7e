"""Small builders for database tests."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from engine.adapters.tables import task_runs, task_schedule, task_types, tasks
from engine.core.types import ScheduleStatus
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


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step_s)


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


def database_now(engine: Engine) -> datetime:
    """The database server's clock, which the views read ("the past year"): a test of a view
    places its rows around this instant, not around the clock of the test process."""
    query = "SELECT now()"
    if engine.dialect.name == "sqlite":
        query = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
    with engine.connect() as connection:
        value = connection.execute(text(query)).scalar_one()
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


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


def seed_random_schedule(
    engine: Engine, rng: random.Random, start: datetime, minutes: int, edges: Sequence[datetime] = ()
) -> None:
    """Schedule rows in the `minutes` whole minutes from `start`, and one at each of `edges`,
    for tasks of every type, as a forecast meets them: most minutes empty, some holding
    several rows, a third of the rows on a whole minute and the rest at any second and
    microsecond (one-off tasks), in every status. Types: `http` and `notification` with a
    history of runs (in the real clock's past year, as the view reads it), `reminder` and
    a new type `batch` planned at their expected durations."""
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="batch",
                description="",
                handler="http",
                expected_duration_ms=7_001,
                timeout_ms=60_000,
                max_attempts=3,
                config={},
            )
        )
    real_now = datetime.now(start.tzinfo)
    for task_type in ("http", "notification"):
        for _ in range(rng.randint(1, 4)):
            record_run(
                engine, task_type, real_now - timedelta(days=rng.randint(1, 300)), rng.randint(0, 12_000)
            )
    names = ["http", "notification", "reminder", "batch"]
    with engine.begin() as connection:
        task_ids = [
            connection.execute(
                insert(tasks)
                .values(
                    name=f"task {index}",
                    task_type=rng.choice(names),
                    kind="once",
                    run_at=start,
                    payload={},
                    active=True,
                    created_at=start,
                    updated_at=start,
                )
                .returning(tasks.c.id)
            ).scalar_one()
            for index in range(40)
        ]
        rows = {(rng.choice(task_ids), edge) for edge in edges}
        for minute in rng.sample(range(minutes), k=minutes // 4):
            for _ in range(rng.choice([1, 1, 2, 3, 8])):
                at = start + timedelta(minutes=minute)
                if rng.random() > 1 / 3:
                    at += timedelta(seconds=rng.randrange(60), microseconds=rng.randrange(1_000_000))
                rows.add((rng.choice(task_ids), at))
        statuses = [rng.choice(list(ScheduleStatus)) for _ in rows]
        connection.execute(
            insert(task_schedule),
            [
                {
                    "task_id": task_id,
                    "scheduled_time": at,
                    "status": status.value,
                    "attempt": 0,
                    # A fire time a policy skipped says why (a CHECK of 0012_task_policies).
                    "skip_reason": "overlap" if status is ScheduleStatus.SKIPPED else None,
                }
                for (task_id, at), status in zip(sorted(rows), statuses, strict=True)
            ],
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


def add_task_type(
    engine: Engine, name: str, handler: str, max_attempts: int = 3, timeout_ms: int = 5_000, **config: Any
) -> None:
    from engine.adapters.tables import task_types

    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name=name,
                handler=handler,
                expected_duration_ms=10,
                timeout_ms=timeout_ms,
                max_attempts=max_attempts,
                config=config,
            )
        )


def index_names(connection: Any, index: str) -> set[str]:
    """`index` and, on a partitioned table, the index of each partition that PostgreSQL made
    from it (a plan names those)."""
    if connection.dialect.name != "postgresql":
        return {index}
    children = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:index)"
        ),
        {"index": index},
    ).scalars()
    return {index, *children}


def kept_counts(engine: Engine) -> dict[tuple[datetime, str], int]:
    """Every minute and type of `schedule_minute_counts` (0017) with its count, as the reads
    add them up (PostgreSQL keeps several signed rows until they are merged)."""
    from engine.adapters.tables import UTCDateTime

    query = text(
        "SELECT minute, task_type, SUM(run_count) AS run_count FROM schedule_minute_counts "
        "GROUP BY minute, task_type HAVING SUM(run_count) <> 0"
    ).columns(minute=UTCDateTime())
    with engine.connect() as connection:
        return {(row.minute, row.task_type): int(row.run_count) for row in connection.execute(query)}


def counted_rows(engine: Engine) -> dict[tuple[datetime, str], int]:
    """Every schedule row counted per UTC minute and its task's type, one by one in Python."""
    query = select(task_schedule.c.scheduled_time, tasks.c.task_type).join(
        tasks, tasks.c.id == task_schedule.c.task_id
    )
    counts: dict[tuple[datetime, str], int] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            key = (row.scheduled_time.replace(second=0, microsecond=0), row.task_type)
            counts[key] = counts.get(key, 0) + 1
    return counts
