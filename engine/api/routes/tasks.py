"""/tasks: create, replace, inactivate, read, list, run now, and a task's runs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AfterValidator, StringConstraints

from engine.api.deps import EngineDep, NowDep
from engine.api.errors import BAD_BODY, INACTIVE, NOT_FOUND
from engine.api.models import (
    RunPage,
    RunPublic,
    RunRequested,
    TaskCreate,
    TaskDetail,
    TaskPage,
    TaskPublic,
    TaskUpdate,
)
from engine.core.types import TaskKind
from engine.services import runs, tasks
from engine.services.schemas import MAX_NAME_LENGTH, MAX_TASK_TYPE_LENGTH, check_storable

router = APIRouter(tags=["tasks"])

# Ids are 64-bit in both databases; a larger number is refused before any query is built.
MAX_ID = 2**63 - 1
MAX_OFFSET = 2**31 - 1
NEXT_RUN_COUNT = 5

TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="task id", examples=[1])]
Limit = Annotated[int, Query(ge=1, le=tasks.MAX_PAGE_SIZE, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
QueryText = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH), AfterValidator(check_storable)]
TypeText = Annotated[str, StringConstraints(max_length=MAX_TASK_TYPE_LENGTH), AfterValidator(check_storable)]


@router.post("/tasks", status_code=201, responses=BAD_BODY)
def create_task(body: TaskCreate, engine: EngineDep, now: NowDep, response: Response) -> TaskPublic:
    """Create a task; the Scheduler materialises its runs within a second or so."""
    task = tasks.create_task(engine, body, now)
    response.headers["Location"] = f"/tasks/{task.id}"
    return TaskPublic.model_validate(task)


@router.get("/tasks")
def list_tasks(
    engine: EngineDep,
    now: NowDep,
    limit: Limit = 50,
    offset: Offset = 0,
    task_type: Annotated[TypeText | None, Query(description="exact task type")] = None,
    kind: Annotated[TaskKind | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
    q: Annotated[QueryText | None, Query(description="name contains (case-insensitive, literal)")] = None,
) -> TaskPage:
    """Tasks, newest first, each with its next run and last outcome."""
    page = tasks.list_tasks(
        engine,
        tasks.TaskFilter(task_type=task_type, kind=kind, active=active, name_contains=q),
        limit=limit,
        offset=offset,
        now=now,
    )
    return TaskPage(items=[TaskPublic.model_validate(task) for task in page.items], total=page.total)


@router.get("/tasks/{task_id}", responses=NOT_FOUND)
def get_task(task_id: TaskId, engine: EngineDep, now: NowDep) -> TaskDetail:
    """One task, with its next 5 runs (UTC)."""
    task = tasks.get_task(engine, task_id, now)
    return TaskDetail(**asdict(task), next_runs=tasks.next_runs(task, now, NEXT_RUN_COUNT))


@router.put("/tasks/{task_id}", responses=NOT_FOUND | BAD_BODY)
def update_task(task_id: TaskId, body: TaskUpdate, engine: EngineDep, now: NowDep) -> TaskPublic:
    """Replace a task's definition in one transaction. Its `Scheduled` rows are deleted; the
    Scheduler repopulates them from the new definition within a minute."""
    return TaskPublic.model_validate(tasks.update_task(engine, task_id, body, now))


@router.put("/tasks/{task_id}/inactive", responses=NOT_FOUND)
def set_inactive(task_id: TaskId, engine: EngineDep, now: NowDep) -> TaskPublic:
    """Stop a task: `active` becomes false and its `Scheduled` rows are removed."""
    return TaskPublic.model_validate(tasks.set_inactive(engine, task_id, now))


@router.post(
    "/tasks/{task_id}/run",
    status_code=201,
    responses=NOT_FOUND | INACTIVE,
)
def run_now(task_id: TaskId, engine: EngineDep, now: NowDep) -> RunRequested:
    """Run an active task now: adds a `Scheduled` row at the current instant."""
    schedule_id = tasks.run_now(engine, task_id, now)
    return RunRequested(schedule_id=schedule_id, task_id=task_id, scheduled_time=now)


@router.get("/tasks/{task_id}/runs", responses=NOT_FOUND)
def list_runs(task_id: TaskId, engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> RunPage:
    """The task's execution attempts, latest first."""
    page = runs.list_runs(engine, task_id, limit=limit, offset=offset)
    return RunPage(items=[RunPublic.model_validate(run) for run in page.items], total=page.total)
