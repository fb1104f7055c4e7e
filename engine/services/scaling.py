"""The processors an autoscaler should run now: the forecast of the coming minutes, read
with the formula's stored parameters, turned into processors by `engine.core.processor_target`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from engine.adapters.database import load_scaling_parameters, read_connection
from engine.core.forecast import MINUTE
from engine.core.processor_target import ProcessorTarget, processor_target, target_window
from engine.services.forecast import forecast_on


def processors_target(
    engine: Engine, now: datetime, lead_minutes: int, cooldown_minutes: int, concurrency: int
) -> ProcessorTarget:
    """The target at `now`: the forecast (as `/forecast` computes it, with the database's
    capacity and buffer) of the minutes from `cooldown_minutes` before the current one to
    `lead_minutes` after it, in processors of `concurrency` worker slots."""
    window = target_window(now, lead_minutes, cooldown_minutes)
    hours = window.minutes * MINUTE.total_seconds() / 3600
    with read_connection(engine) as connection:  # one connection: autoscalers ask often
        parameters = load_scaling_parameters(connection)
        series = forecast_on(connection, window.first, hours, parameters.capacity_ms, parameters.buffer)
    return processor_target(series, window, concurrency)
