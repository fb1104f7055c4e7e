"""Capacity planning: the two database views and the per-minute forecast."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.api.deps import EngineDep, NowDep
from engine.api.models import ForecastMinutePublic, ForecastPublic, MinuteSummaryPublic, TypeSummaryPublic
from engine.services import forecast, summaries

router = APIRouter(tags=["capacity"])

Hours = Annotated[
    float,
    Query(gt=0, le=summaries.MAX_SUMMARY_HOURS, allow_inf_nan=False, description="how far ahead, in hours"),
]


@router.get("/scheduled-tasks-summary")
def get_scheduled_summary(engine: EngineDep, now: NowDep, hours: Hours = 3) -> list[MinuteSummaryPublic]:
    """Per scheduled minute from the current one, from the `scheduled_tasks_summary` view:
    tasks, compute ms and required instances. Minutes without tasks are left out."""
    rows = summaries.scheduled_summary(engine, now, hours)
    return [MinuteSummaryPublic.model_validate(row) for row in rows]


@router.get("/task-summary")
def get_task_summary(engine: EngineDep) -> list[TypeSummaryPublic]:
    """Per task type with runs in the past year, from the `average_elapsed_time_per_task_type`
    view: average elapsed ms and run count."""
    return [TypeSummaryPublic.model_validate(row) for row in summaries.task_summary(engine)]


@router.get("/forecast")
def get_forecast(engine: EngineDep, now: NowDep, hours: Hours = 3) -> ForecastPublic:
    """Every minute from the current one, empty minutes as zero, with the scaling parameters
    the database records (the view's) and the instances running now: worker slots, the
    concurrency of the live processors added up (one slot runs one task at a time, as one
    instance of the formula does)."""
    parameters = forecast.stored_scaling_parameters(engine)
    series = forecast.forecast(engine, now, hours, parameters.capacity_ms, parameters.buffer)
    fleet = forecast.live_fleet(engine, now)
    return ForecastPublic(
        hours=hours,
        capacity_ms=parameters.capacity_ms,
        buffer=parameters.buffer,
        current_instances=fleet.worker_slots,
        live_processors=fleet.processors,
        minutes=[ForecastMinutePublic.model_validate(minute) for minute in series],
    )
