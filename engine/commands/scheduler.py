"""`headway scheduler`: the process that materialises schedule rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    ForecastHoursOption,
    RetentionDaysOption,
    command_settings,
    database,
    format_instant,
    setting_option,
    setup_logging,
    stop_on_signals,
    utc_now,
)
from engine.commands.health import (
    HealthAddressOption,
    HealthStallOption,
    SchedulerHealthPortOption,
    start_health,
)

if TYPE_CHECKING:
    import threading

    from engine.process_configs import HealthConfig, ScalingConfig, SchedulerConfig


def scheduler(
    ctx: typer.Context,
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
    retention_days: RetentionDaysOption = 30,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    health_port: SchedulerHealthPortOption = None,
    health_address: HealthAddressOption = "127.0.0.1",
    health_stall_s: HealthStallOption = 120.0,
) -> None:
    """Expand active cron, one-off and immediate tasks into schedule rows ahead of the horizon."""
    # The loop catches signals before anything heavy is imported: a SIGTERM while it starts
    # stops it before its first pass instead of killing the process.
    stop = None if once else stop_on_signals()
    from engine.process_configs import health_config, scaling_config, scheduler_config

    settings = command_settings(ctx)
    health = health_config(settings, "scheduler")
    serve(settings.database_url, scaling_config(settings), scheduler_config(settings), stop, health)


def serve(
    database_url: str,
    scaling: ScalingConfig,
    config: SchedulerConfig,
    stop: threading.Event | None,
    health: HealthConfig | None = None,
) -> None:
    """Store the scaling parameters, then run passes until `stop`, or one pass without it;
    with `health`, serve the loop's /livez and /readyz meanwhile."""
    from engine.adapters.database import store_scaling_parameters
    from engine.processes.scheduler import run_forever, run_pass
    from engine.services.history import PruneStep

    setup_logging()
    with database(database_url) as engine:
        with engine.begin() as connection:
            store_scaling_parameters(connection, scaling.capacity_ms, scaling.buffer)
        if stop is None:
            result = run_pass(engine, utc_now(), config.forecast_hours, config.window_hours)
            typer.echo(
                f"{result.tasks_expanded} tasks expanded, {result.rows_inserted} rows added, "
                f"horizon {format_instant(result.horizon)}"
            )
            return
        progress = None
        if health is not None:
            progress = start_health(health, database_url)
        run_forever(
            engine,
            config.interval_s,
            config.forecast_hours,
            config.window_hours,
            stop,
            progress=progress,
            prune=PruneStep(engine, config.retention_days),
        )
