"""The task types tasks can use: seeded by the migrations, read by the API and dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from engine.adapters.database import read_connection
from engine.adapters.tables import task_types


@dataclass(frozen=True, slots=True)
class TaskType:
    name: str
    description: str
    handler: str
    expected_duration_ms: int
    timeout_ms: int
    max_attempts: int


def list_task_types(engine: Engine) -> list[TaskType]:
    """Every task type, by name."""
    query = select(
        task_types.c.name,
        task_types.c.description,
        task_types.c.handler,
        task_types.c.expected_duration_ms,
        task_types.c.timeout_ms,
        task_types.c.max_attempts,
    ).order_by(task_types.c.name)
    with read_connection(engine) as connection:
        return [TaskType(**row) for row in connection.execute(query).mappings()]
