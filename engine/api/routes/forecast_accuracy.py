"""Forecast accuracy: past forecasts (at 180, 60 and 10 minutes ahead) against what ran."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from engine.api.deps import EngineDep, NowDep
from engine.services import forecast, forecast_accuracy

router = APIRouter(tags=["capacity"])


class LeadAccuracyPublic(BaseModel):
    lead_minutes: int
    minutes: int
    task_mae: float
    compute_mae_ms: float
    compute_bias_ms: float
    compute_error_pct: float
    instance_mae: float
    instance_bias: float
    under_forecast_minutes: int


class TypeAccuracyPublic(BaseModel):
    lead_minutes: int
    task_type: str
    forecast_tasks: int
    actual_tasks: int
    forecast_compute_ms: int
    actual_compute_ms: int
    compute_abs_error_ms: int


class MinuteAccuracyPublic(BaseModel):
    minute: str
    lead_minutes: int
    forecast_tasks: int
    actual_tasks: int
    forecast_compute_ms: int
    actual_compute_ms: int
    forecast_instances: int
    needed_instances: int


class ForecastAccuracyPublic(BaseModel):
    start: str
    end: str
    leads: list[LeadAccuracyPublic]
    task_types: list[TypeAccuracyPublic]
    minutes: list[MinuteAccuracyPublic]


@router.get("/forecast/accuracy")
def get_forecast_accuracy(
    engine: EngineDep,
    now: NowDep,
    hours: Annotated[
        float,
        Query(
            gt=0,
            le=forecast_accuracy.MAX_ACCURACY_HOURS,
            allow_inf_nan=False,
            description="minutes that ended in the last this many hours",
        ),
    ] = 24,
) -> ForecastAccuracyPublic:
    """Per lead time (180, 60, 10 minutes): mean absolute and mean errors of tasks, compute
    and instances, and the minutes that needed more instances than forecast; per task type
    and per minute the forecast against what ran. Uses the recorded scaling parameters."""
    parameters = forecast.stored_scaling_parameters(engine)
    report = forecast_accuracy.accuracy_report(
        engine, now, hours, parameters.capacity_ms, parameters.buffer
    )
    document: dict[str, Any] = forecast_accuracy.accuracy_document(report)
    return ForecastAccuracyPublic.model_validate(document)
