"""`headway scheduler`: the process that materialises schedule rows."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    ForecastHoursOption,
    database,
    format_instant,
    setting_option,
    setup_logging,
    utc_now,
)
from engine.commands.health import (
    HealthAddressOption,
    HealthStallOption,
    SchedulerHealthPortOption,
    serve_health,
)


def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit.")] = False,
    interval_s: Annotated[
        float,
        setting_option("--interval-s", "HEADWAY_SCHEDULER_INTERVAL_S", "Seconds between full passes."),
    ] = 60.0,
    window_hours: Annotated[
        float | None,
        setting_option(
            "--window-hours",
            "HEADWAY_SCHEDULER_WINDOW_HOURS",
            "Rolling window: materialise now + max(window, forecast) instead of to the end of the UTC day.",
        ),
    ] = None,
    forecast_hours: ForecastHoursOption = 3.0,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    health_port: SchedulerHealthPortOption = None,
    health_address: HealthAddressOption = "127.0.0.1",
    health_stall_s: HealthStallOption = 120.0,
) -> None:
    """Expand active cron, one-off and immediate tasks into schedule rows ahead of the horizon."""
    import signal
    import threading

    from engine.adapters.database import store_scaling_parameters
    from engine.processes.scheduler import run_forever, run_pass

    setup_logging()
    with database(database_url) as engine:
        with engine.begin() as connection:
            store_scaling_parameters(connection, capacity_ms, buffer)
        if once:
            result = run_pass(engine, utc_now(), forecast_hours, window_hours)
            typer.echo(
                f"{result.tasks_expanded} tasks expanded, {result.rows_inserted} rows added, "
                f"horizon {format_instant(result.horizon)}"
            )
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        progress = serve_health("scheduler", health_port, health_address, health_stall_s, database_url)
        run_forever(engine, interval_s, forecast_hours, window_hours, stop, progress=progress)
