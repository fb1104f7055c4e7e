"""The per-minute forecast of required instances, as the CLI, API and dashboard show it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from engine.adapters.database import load_scaling_parameters
from engine.adapters.forecast_store import count_live_processors, load_compute_ms_by_type, load_scheduled_runs
from engine.core.forecast import ForecastMinute, floor_minute, forecast_minutes
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS
from engine.core.types import ScalingParameters

# A processor whose last heartbeat is older than this is no longer counted as running.
LIVE_PROCESSOR_WINDOW = timedelta(seconds=30)


def forecast(
    engine: Engine,
    now: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
) -> list[ForecastMinute]:
    """Every minute from the current one for `hours`, empty minutes as zero."""
    start = floor_minute(now)
    with engine.connect() as connection:
        runs = load_scheduled_runs(connection, start, start + timedelta(hours=hours))
        compute = load_compute_ms_by_type(connection)
    return forecast_minutes(runs, compute, start, hours, capacity_ms, buffer)


def stored_scaling_parameters(engine: Engine) -> ScalingParameters:
    """The formula's parameters as recorded in the database (what the summary view uses)."""
    with engine.connect() as connection:
        return load_scaling_parameters(connection)


def live_processor_count(engine: Engine, now: datetime) -> int:
    """Processors that sent a heartbeat within the last 30 seconds."""
    with engine.connect() as connection:
        return count_live_processors(connection, now - LIVE_PROCESSOR_WINDOW)
