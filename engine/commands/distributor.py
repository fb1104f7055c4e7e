"""`headway distributor`: publishes due schedule rows to the broker."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import (
    DEFAULT_BROKER_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_QUEUE,
    DEFAULT_QUEUE_TYPE,
    BrokerUrlOption,
    DatabaseUrlOption,
    QueueOption,
    QueueTypeOption,
    command_settings,
    freeze_startup_heap,
    open_broker,
    open_database,
    refuse_memory_broker,
    setting_option,
    setup_logging,
    stop_on_signals,
)
from engine.commands.health import (
    DistributorHealthPortOption,
    HealthAddressOption,
    HealthStallOption,
    start_health,
)

if TYPE_CHECKING:
    from engine.process_configs import BrokerConfig, HealthConfig
    from engine.processes.distributor import DistributorConfig

BatchSizeOption = Annotated[
    int,
    setting_option(
        "--batch-size",
        "HEADWAY_DISTRIBUTOR_BATCH_SIZE",
        "Rows claimed and published (confirms awaited) per batch, 1 to 10000.",
    ),
]
PollIntervalOption = Annotated[
    float,
    setting_option(
        "--poll-interval-s",
        "HEADWAY_DISTRIBUTOR_POLL_INTERVAL_S",
        "Longest wait between looks for due rows, 0.01 to 1 (it also wakes when the next row is due).",
    ),
]
LeaseOption = Annotated[
    float,
    setting_option(
        "--lease-s",
        "HEADWAY_DISTRIBUTOR_LEASE_S",
        "How long a claim holds (>= 1) before a sweeper returns an unconfirmed row to Scheduled.",
    ),
]

ReconcileIntervalOption = Annotated[
    float,
    setting_option(
        "--reconcile-interval-s",
        "HEADWAY_RECONCILE_INTERVAL_S",
        "How often to look for rows that stopped moving (0.1 to 3600); a row seen stuck and "
        "unchanged twice this far apart is published again.",
    ),
]
ReconcileQueuedAfterOption = Annotated[
    float,
    setting_option(
        "--reconcile-queued-after-s",
        "HEADWAY_RECONCILE_QUEUED_AFTER_S",
        "A published row not started after this long (>= 1; also an overdue retry) is published again.",
    ),
]


def distributor(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run one loop and exit.")] = False,
    batch_size: BatchSizeOption = 1_000,
    poll_interval_s: PollIntervalOption = 0.5,
    lease_s: LeaseOption = 30.0,
    reconcile_interval_s: ReconcileIntervalOption = 10.0,
    reconcile_queued_after_s: ReconcileQueuedAfterOption = 600.0,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    health_port: DistributorHealthPortOption = None,
    health_address: HealthAddressOption = "127.0.0.1",
    health_stall_s: HealthStallOption = 120.0,
) -> None:
    """Publish due schedule rows to the broker, with confirms; several may run at once.

    Also returns to Scheduled the rows claimed by distributors that died before the broker
    confirmed them, and publishes again the rows that stopped moving whatever the broker
    lost (never started, running under an expired lease, a retry long overdue)."""
    from engine.process_configs import broker_config, distributor_config, health_config
    from engine.processes.distributor import new_distributor_id

    settings = command_settings(ctx)
    refuse_memory_broker(settings.broker_url)
    serve(
        settings.database_url,
        broker_config(settings),
        distributor_config(settings, new_distributor_id()),
        once,
        health_config(settings, "distributor"),
    )


def serve(
    database_url: str,
    broker_config: BrokerConfig,
    config: DistributorConfig,
    once: bool,
    health: HealthConfig | None = None,
) -> None:
    """Wire the broker and the database and run the distributor: one loop with `once`, else
    until a signal; with `health`, serve its /livez and /readyz meanwhile."""
    from engine.ports import BrokerUnavailable
    from engine.processes.distributor import Distributor

    setup_logging()
    progress = None
    if not once and health is not None:  # before the database is reached: it tells while it waits
        progress = start_health(health, database_url, broker_config.url)
    broker = open_broker(broker_config.url, broker_config.queue, broker_config.queue_type)
    engine = open_database(database_url, long_running=True)
    process = Distributor(engine, broker, config)
    try:
        if once:
            try:
                result = process.run_once()
            except BrokerUnavailable as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(1) from None
            typer.echo(
                f"{result.claimed} rows claimed, {result.published} published, "
                f"{result.released} released, {result.swept} swept"
            )
            return
        log = logging.getLogger("headway.distributor")
        log.info(
            "%s: queue %s (%s), batch %d",
            config.distributor_id,
            broker_config.queue,
            broker_config.queue_type,
            config.batch_size,
        )
        wakeup = None
        if engine.dialect.name == "postgresql":
            from engine.adapters.wakeup import PostgresWakeup

            wakeup = PostgresWakeup(engine)
        try:
            freeze_startup_heap()
            process.run(stop_on_signals(), wakeup.wait if wakeup else None, progress)
        finally:
            if wakeup:
                wakeup.close()
        log.info("%s stopped", config.distributor_id)
    finally:
        broker.close()
