"""How far ahead the Scheduler materialises fire times. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def materialisation_horizon(
    now: datetime, forecast_hours: float, window_hours: float | None = None
) -> datetime:
    """The instant up to which schedule rows must exist.

    By default `max(end of the current UTC day, now + forecast horizon)`, so the day's whole
    plan is visible. Large fleets may set a rolling `window_hours` instead: `now + max(window,
    forecast)`, which never falls short of the forecast.
    Example: at 2026-01-01T22:30Z with a 3 h forecast the horizon is 2026-01-02T01:30Z.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    forecast_end = now + timedelta(hours=forecast_hours)
    if window_hours is not None:
        return now + timedelta(hours=max(window_hours, forecast_hours))
    end_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(end_of_day, forecast_end)
