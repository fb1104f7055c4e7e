"""/task-types: what a task's `task_type` may name."""

from __future__ import annotations

from fastapi import APIRouter

from engine.api.deps import EngineDep
from engine.api.models import TaskTypePublic
from engine.services.task_types import list_task_types

router = APIRouter(tags=["task types"])


@router.get("/task-types")
def get_task_types(engine: EngineDep) -> list[TaskTypePublic]:
    """Every task type: handler, expected duration, timeout and max attempts."""
    return [TaskTypePublic.model_validate(task_type) for task_type in list_task_types(engine)]
