"""`headway up`: the embedded all-in-one mode."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_BROKER_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_QUEUE,
    DEFAULT_QUEUE_TYPE,
    BrokerUrlOption,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    ForecastHoursOption,
    QueueOption,
    QueueTypeOption,
    open_broker,
    open_database,
    setup_logging,
    stop_on_signals,
)
from engine.commands.processor import (
    ConcurrencyOption,
    NotificationUrlOption,
    OutboundAllowOption,
    PrefetchOption,
    ReminderUrlOption,
    build_handlers,
)


def up(
    api_host: Annotated[
        str, typer.Option("--api-host", envvar="HEADWAY_API_HOST", help="REST API address.")
    ] = ("127.0.0.1"),
    api_port: Annotated[
        int, typer.Option("--api-port", envvar="HEADWAY_API_PORT", min=1, max=65_535, help="REST API port.")
    ] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the REST API.")] = False,
    scheduler_interval_s: Annotated[
        float,
        typer.Option(
            "--scheduler-interval-s",
            envvar="HEADWAY_SCHEDULER_INTERVAL_S",
            min=0.1,
            help="Seconds between full passes.",
        ),
    ] = 60.0,
    window_hours: Annotated[
        float | None,
        typer.Option(
            "--window-hours", envvar="HEADWAY_SCHEDULER_WINDOW_HOURS", min=0.01, help="Rolling window."
        ),
    ] = None,
    forecast_hours: ForecastHoursOption = 3.0,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    concurrency: ConcurrencyOption = 4,
    prefetch: PrefetchOption = 1,
    outbound_allow: OutboundAllowOption = "",
    reminder_url: ReminderUrlOption = "",
    notification_url: NotificationUrlOption = "",
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Everything in one process: Scheduler, Distributor, Processor and the REST API.

    Uses the in-process broker and the SQLite default unless told otherwise; the API is
    served when this build includes it."""
    from engine.adapters.database import store_scaling_parameters
    from engine.processes.distributor import DistributorConfig, new_distributor_id
    from engine.processes.embedded import ApiConfig, SchedulerConfig, run_embedded
    from engine.processes.processor import ProcessorConfig, new_processor_id

    setup_logging()
    engine = open_database(database_url, long_running=True)
    with engine.begin() as connection:
        store_scaling_parameters(connection, capacity_ms, buffer)
    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    handlers = build_handlers(outbound_allow, reminder_url, notification_url)
    api = None if no_api else ApiConfig(api_host, api_port, database_url, broker_url)
    try:
        run_embedded(
            engine,
            broker,
            handlers,
            SchedulerConfig(scheduler_interval_s, forecast_hours, window_hours),
            DistributorConfig(new_distributor_id()),
            ProcessorConfig(new_processor_id(), concurrency, prefetch),
            api,
            stop_on_signals(),
        )
    finally:
        broker.close()
