"""The capacity outlook: the forecast, the fleet running now, and when to scale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from engine.core.forecast import ForecastMinute
from engine.core.scale_points import ScalePlan, plan_scaling
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS
from engine.services.forecast import forecast, live_fleet


@dataclass(frozen=True, slots=True)
class CapacityOutlook:
    series: list[ForecastMinute]
    current_instances: int
    plan: ScalePlan


def capacity_outlook(
    engine: Engine,
    now: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
    lead_minutes: int = 0,
    cooldown_minutes: int = 0,
    current_instances: int | None = None,
    compute_ms_by_type: Mapping[str, int] | None = None,
) -> CapacityOutlook:
    """The forecast from the minute of `now` for `hours`, planned against `current_instances`
    (default: the worker slots of the processors with a heartbeat within
    `LIVE_PROCESSOR_WINDOW`, the formula's instances; see `LiveFleet`). Each type's compute
    is read unless given (see `forecast`)."""
    series = forecast(engine, now, hours, capacity_ms, buffer, compute_ms_by_type)
    if current_instances is None:
        current_instances = live_fleet(engine, now).worker_slots
    plan = plan_scaling(series, current_instances, lead_minutes, cooldown_minutes)
    return CapacityOutlook(series=series, current_instances=current_instances, plan=plan)
