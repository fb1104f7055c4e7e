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
    setting_option,
    setup_logging,
    stop_on_signals,
)
from engine.commands.processor import (
    ConcurrencyOption,
    GraceOption,
    NotificationUrlOption,
    OutboundAllowOption,
    PrefetchOption,
    ReminderUrlOption,
    RetryBaseOption,
    RetryMaxOption,
    build_handlers,
)


def up(
    api_host: Annotated[
        str, setting_option("--api-host", "HEADWAY_API_HOST", "REST API address.")
    ] = "127.0.0.1",
    api_port: Annotated[int, setting_option("--api-port", "HEADWAY_API_PORT", "REST API port.")] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the REST API.")] = False,
    scheduler_interval_s: Annotated[
        float,
        setting_option(
            "--scheduler-interval-s", "HEADWAY_SCHEDULER_INTERVAL_S", "Seconds between full passes."
        ),
    ] = 60.0,
    window_hours: Annotated[
        float | None,
        setting_option("--window-hours", "HEADWAY_SCHEDULER_WINDOW_HOURS", "Rolling window."),
    ] = None,
    forecast_hours: ForecastHoursOption = 3.0,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    concurrency: ConcurrencyOption = 4,
    prefetch: PrefetchOption = 1,
    retry_base_ms: RetryBaseOption = 1_000,
    retry_max_ms: RetryMaxOption = 300_000,
    shutdown_grace_s: GraceOption = None,
    outbound_allow: OutboundAllowOption = "",
    reminder_url: ReminderUrlOption = None,
    notification_url: NotificationUrlOption = None,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Everything in one process: Scheduler, Distributor, Processor and the REST API.

    Uses the in-process broker and the SQLite default unless told otherwise."""
    from engine.adapters.database import store_scaling_parameters
    from engine.processes.distributor import DistributorConfig, new_distributor_id
    from engine.processes.embedded import ApiConfig, SchedulerConfig, run_embedded
    from engine.processes.processor import ProcessorConfig, new_processor_id

    setup_logging()
    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    engine = open_database(database_url, long_running=True)
    with engine.begin() as connection:
        store_scaling_parameters(connection, capacity_ms, buffer)
    handlers = build_handlers(outbound_allow, reminder_url, notification_url)
    api = None if no_api else ApiConfig(api_host, api_port, database_url, broker_url)
    try:
        run_embedded(
            engine,
            broker,
            handlers,
            SchedulerConfig(scheduler_interval_s, forecast_hours, window_hours),
            DistributorConfig(new_distributor_id()),
            ProcessorConfig(
                new_processor_id(),
                concurrency,
                prefetch,
                backoff_base_ms=retry_base_ms,
                backoff_max_ms=retry_max_ms,
                shutdown_grace_s=shutdown_grace_s,
            ),
            api,
            stop_on_signals(),
        )
    finally:
        broker.close()
