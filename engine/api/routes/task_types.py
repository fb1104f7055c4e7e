"""/task-types: what a task's `task_type` may name, and the handler, limits and config of each."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from engine.api.deps import EngineDep
from engine.api.errors import BAD_BODY, DUPLICATE, NOT_FOUND
from engine.api.models import TaskTypeCreate, TaskTypePublic, TaskTypeUpdate
from engine.services import task_types
from engine.services.schemas import TASK_TYPE_NAME_PATTERN

router = APIRouter(tags=["task types"])

# A name no task type can have is refused (422) before any query; the pattern keeps odd text (NUL,
# lone surrogates) out of the query.
TypeName = Annotated[str, Path(pattern=TASK_TYPE_NAME_PATTERN, description="task type name")]


def registered_handlers() -> Collection[str]:
    # Read per request: a plug-in installed while the API runs is accepted without a restart.
    from engine.adapters.handlers import registered_handler_names

    return registered_handler_names()


HandlersDep = Annotated[Collection[str], Depends(registered_handlers)]


@router.get("/task-types")
def get_task_types(engine: EngineDep) -> list[TaskTypePublic]:
    """Every task type: handler, expected duration, timeout, max attempts and config."""
    return [TaskTypePublic.model_validate(task_type) for task_type in task_types.list_task_types(engine)]


@router.post("/task-types", status_code=201, responses=BAD_BODY | DUPLICATE)
def create_task_type(
    body: TaskTypeCreate, engine: EngineDep, handlers: HandlersDep, response: Response
) -> TaskTypePublic:
    """Create a task type. Its `handler` must be registered: a built-in (`http`, `reminder`,
    `notification`, `noop`) or a `headway.handlers` entry point installed with the API."""
    created = task_types.create_task_type(engine, body, handlers)
    response.headers["Location"] = f"/task-types/{created.name}"
    return TaskTypePublic.model_validate(created)


@router.get("/task-types/{name}", responses=NOT_FOUND)
def get_task_type(name: TypeName, engine: EngineDep) -> TaskTypePublic:
    """One task type."""
    return TaskTypePublic.model_validate(task_types.get_task_type(engine, name))


@router.put("/task-types/{name}", responses=NOT_FOUND | BAD_BODY)
def replace_task_type(
    name: TypeName, body: TaskTypeUpdate, engine: EngineDep, handlers: HandlersDep
) -> TaskTypePublic:
    """Replace a task type's definition; its tasks keep it. A changed `handler` must be
    registered. Every attempt that starts afterwards uses the new definition."""
    return TaskTypePublic.model_validate(task_types.replace_task_type(engine, name, body, handlers))
