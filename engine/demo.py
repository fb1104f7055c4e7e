"""The demo fleet: a few hundred realistic tasks that `headway up` adds to an empty database
(and `headway demo add|remove` manage), and the demo SQLite database of the notebooks.

The fleet has five task types of different durations, all run by `headway up`'s `echo`
handler against its built-in echo endpoint (`engine.adapters.echo_endpoint`): cron tasks in
several time zones (a pile-up at :00 UTC from the hourly jobs of Berlin, New York, Tokyo
and UTC, another at :30 from Kolkata's), every-minute jobs that give the graphs data within
a minute, one-offs over the next hours and immediates that run at once. A few fail on
purpose: some once (then succeed on retry), some always (they end `Dead`), some with a
refusal (they end `Failed` at once).

What marks the demo: its task types carry `"demo": true` in their config, and the demo
tasks are exactly the tasks of those types. `remove_demo` deletes those tasks (their
schedule rows and runs go with them) and the types.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.adapters.tables import task_run_rollups, task_types, tasks
from engine.core.types import TaskKind
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task

DEMO_HANDLER = "echo"
DEMO_MARK = "demo"


@dataclass(frozen=True, slots=True)
class DemoType:
    name: str
    description: str
    duration_ms: int  # typical; each task's payload asks for 60 % to 140 % of it


DEMO_TYPES: tuple[DemoType, ...] = (
    DemoType("demo-webhook", "Demo: delivers a webhook", 150),
    DemoType("demo-email", "Demo: sends a transactional e-mail", 300),
    DemoType("demo-sync", "Demo: syncs a customer account with the CRM", 1_200),
    DemoType("demo-report", "Demo: renders a PDF report", 2_500),
    DemoType("demo-backup", "Demo: backs up a tenant database", 4_000),
)


@dataclass(frozen=True, slots=True)
class Group:
    """A slice of the fleet: `share` of the tasks, all with this schedule."""

    label: str
    share: float
    kind: TaskKind
    cron: str | None
    zones: tuple[str, ...]
    types: tuple[str, ...]


WHOLE_HOUR_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
GROUPS: tuple[Group, ...] = (
    Group("heartbeat", 0.04, TaskKind.CRON, "* * * * *", ("UTC",), ("demo-webhook", "demo-email")),
    Group("poll", 0.12, TaskKind.CRON, "*/5 * * * *", WHOLE_HOUR_ZONES, ("demo-webhook", "demo-sync")),
    Group("digest", 0.10, TaskKind.CRON, "*/15 * * * *", WHOLE_HOUR_ZONES, ("demo-email", "demo-sync")),
    Group(
        "hourly",
        0.26,
        TaskKind.CRON,
        "0 * * * *",
        WHOLE_HOUR_ZONES,
        ("demo-report", "demo-sync", "demo-email"),
    ),
    Group("hourly-in", 0.06, TaskKind.CRON, "0 * * * *", ("Asia/Kolkata",), ("demo-report", "demo-email")),
    Group("morning", 0.12, TaskKind.CRON, "0 9 * * 1-5", WHOLE_HOUR_ZONES, ("demo-email", "demo-report")),
    Group("nightly", 0.06, TaskKind.CRON, "30 2 * * *", WHOLE_HOUR_ZONES, ("demo-backup",)),
    Group("one-off", 0.14, TaskKind.ONCE, None, ("UTC",), ("demo-email", "demo-report", "demo-webhook")),
    Group("now", 0.10, TaskKind.IMMEDIATE, None, ("UTC",), ("demo-webhook", "demo-email", "demo-sync")),
)
# Failures on purpose, (group, index in the group) -> payload additions. The every-minute
# ones show a retry, a dead letter and a refusal within the first minute or two.
FAILURES: dict[tuple[str, int], dict[str, Any]] = {
    ("heartbeat", 0): {"fail_first": 1},  # 503 once, then succeeds on the second attempt
    ("heartbeat", 1): {"fail_first": 99},  # 503 on every attempt: Dead
    ("heartbeat", 2): {"reject": True},  # 422: Failed at once
    ("now", 0): {"fail_first": 1},
    ("now", 1): {"fail_first": 99},
    ("hourly", 0): {"fail_first": 2},
    ("hourly", 1): {"fail_first": 99},
}


def demo_fleet(now: datetime, count: int = 300, seed: int = 7) -> list[TaskInput]:
    """`count` demo tasks (the groups' shares, rounded; the last group takes the remainder),
    the same for the same `seed`. One-offs fall on whole minutes between 2 minutes and 3
    hours after `now`, a third of them on the next full hour.

    Example: `len(demo_fleet(now, 300)) == 300`, 12 of them every minute (`* * * * *`).
    """
    rng = random.Random(seed)
    durations = {demo_type.name: demo_type.duration_ms for demo_type in DEMO_TYPES}
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    specs: list[TaskInput] = []
    for position, group in enumerate(GROUPS):
        size = count - len(specs) if position == len(GROUPS) - 1 else round(count * group.share)
        for index in range(size):
            task_type = group.types[index % len(group.types)]
            zone = group.zones[index % len(group.zones)]
            payload: dict[str, Any] = {"duration_ms": round(durations[task_type] * rng.uniform(0.6, 1.4))}
            payload |= FAILURES.get((group.label, index), {})
            run_at = None
            if group.kind is TaskKind.ONCE:
                minutes = rng.randint(2, 180)
                run_at = next_hour if index % 3 == 0 else _whole_minute(now) + timedelta(minutes=minutes)
            specs.append(
                TaskInput(
                    name=f"{task_type.removeprefix('demo-')}-{group.label}-{index + 1:03d}",
                    task_type=task_type,
                    kind=group.kind,
                    cron_expression=group.cron,
                    timezone=zone if group.kind is TaskKind.CRON else None,
                    run_at=run_at,
                    payload=payload,
                )
            )
    return specs


def _whole_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def add_demo_types(engine: Engine) -> None:
    """Insert the demo task types that are missing."""
    with engine.begin() as connection:
        present = set(connection.scalars(select(task_types.c.name)))
        rows = [
            {
                "name": demo_type.name,
                "description": demo_type.description,
                "handler": DEMO_HANDLER,
                "expected_duration_ms": demo_type.duration_ms,
                "timeout_ms": 30_000,
                "max_attempts": 3,
                "config": {DEMO_MARK: True},
            }
            for demo_type in DEMO_TYPES
            if demo_type.name not in present
        ]
        if rows:
            connection.execute(insert(task_types), rows)


def add_demo(engine: Engine, now: datetime, count: int = 300, seed: int = 7) -> int:
    """Add the demo types and `count` demo tasks created at `now`, through the same service
    as every task; the number of tasks added."""
    add_demo_types(engine)
    fleet = demo_fleet(now, count, seed)
    for spec in fleet:
        create_task(engine, spec, now)
    return len(fleet)


def demo_type_names(engine: Engine) -> list[str]:
    """The task types marked as demo (`"demo": true` in their config)."""
    with engine.connect() as connection:
        rows = connection.execute(select(task_types.c.name, task_types.c.config)).all()
    return sorted(name for name, config in rows if isinstance(config, dict) and config.get(DEMO_MARK) is True)


@dataclass(frozen=True, slots=True)
class DemoRemoved:
    tasks: int
    types: int


def remove_demo(engine: Engine) -> DemoRemoved:
    """Delete the demo tasks (with their schedule rows and runs), the demo types and their
    daily rollups, in one transaction. Other tasks and types are untouched."""
    names = demo_type_names(engine)
    if not names:
        return DemoRemoved(0, 0)
    with engine.begin() as connection:
        removed = connection.execute(delete(tasks).where(tasks.c.task_type.in_(names))).rowcount
        connection.execute(delete(task_types).where(task_types.c.name.in_(names)))
        # Their rolled-up runs go with the raw ones (the buckets follow by ON DELETE CASCADE).
        connection.execute(delete(task_run_rollups).where(task_run_rollups.c.task_type.in_(names)))
    return DemoRemoved(int(removed), len(names))


def has_tasks(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.scalar(select(func.count()).select_from(tasks)))


def build_demo_database(directory: Path, now: datetime, task_count: int = 300, seed: int = 7) -> str:
    """Create `directory/headway-demo.db` with the demo fleet of `task_count` tasks created at
    `now`, materialised by one Scheduler pass, and return its URL. The same seed gives the
    same tasks."""
    path = directory / "headway-demo.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        add_demo(engine, now, task_count, seed)
        run_pass(engine, now)
    finally:
        engine.dispose()
    return url
