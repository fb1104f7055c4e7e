"""The per-minute forecast of required instances, as the CLI, API and dashboard show it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from engine.adapters.forecast_store import load_compute_ms_by_type, load_scheduled_runs
from engine.core.forecast import ForecastMinute, floor_minute, forecast_minutes
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS


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
