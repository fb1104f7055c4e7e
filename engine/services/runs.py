"""A task's execution attempts, newest first, as the API and dashboard show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from engine.adapters.database import read_connection
from engine.adapters.tables import task_runs, tasks
from engine.services.tasks import MAX_PAGE_SIZE, TaskNotFound

# An attempt's status in the design's words; `outcome` keeps the Processor's precise reason
# (`succeeded`, `http_status`, `timeout`, `blocked_destination`, ...).
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"


def attempt_status(outcome: str | None, finished: bool) -> str:
    """`Running` until the attempt finishes, then `Succeeded` or `Failed`."""
    if not finished and outcome is None:
        return RUNNING
    return SUCCEEDED if outcome == "succeeded" else FAILED


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    schedule_id: int | None
    attempt: int
    status: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None
    elapsed_ms: int | None
    output_excerpt: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class RunPage:
    items: list[Run]
    total: int


def list_runs(engine: Engine, task_id: int, limit: int = 50, offset: int = 0) -> RunPage:
    """A page of the task's attempts, latest start first; TaskNotFound for an unknown task."""
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise ValueError(f"limit must be in [1, {MAX_PAGE_SIZE}] and offset >= 0")
    of_task = task_runs.c.task_id == task_id
    with read_connection(engine) as connection:
        if connection.execute(select(tasks.c.id).where(tasks.c.id == task_id)).first() is None:
            raise TaskNotFound(task_id)
        total = connection.execute(select(func.count()).select_from(task_runs).where(of_task)).scalar_one()
        rows = connection.execute(
            select(task_runs)
            .where(of_task)
            .order_by(task_runs.c.started_at.desc(), task_runs.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).mappings()
        items = [
            Run(
                id=int(row["id"]),
                schedule_id=row["schedule_id"],
                attempt=int(row["attempt"]),
                status=attempt_status(row["outcome"], row["finished_at"] is not None),
                outcome=row["outcome"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                elapsed_ms=row["elapsed_ms"],
                output_excerpt=row["output_excerpt"],
                error=row["error"],
            )
            for row in rows
        ]
    return RunPage(items=items, total=int(total))
