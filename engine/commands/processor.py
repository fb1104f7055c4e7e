"""`headway processor`: consumes task messages and runs their handlers."""

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
    fail,
    freeze_startup_heap,
    open_broker,
    open_database,
    refuse_memory_broker,
    setting_option,
    setup_logging,
    stop_on_signals,
)
from engine.commands.health import (
    HealthAddressOption,
    HealthStallOption,
    ProcessorHealthPortOption,
    start_health,
)

if TYPE_CHECKING:
    from engine.ports import Handler
    from engine.process_configs import BrokerConfig, HandlerConfig, HealthConfig
    from engine.processes.processor import ProcessorConfig

# Options, shared with `headway up`.
ConcurrencyOption = Annotated[
    int,
    setting_option(
        "--concurrency", "HEADWAY_PROCESSOR_CONCURRENCY", "Tasks run at once (worker threads), 1 to 1000."
    ),
]
PrefetchOption = Annotated[
    int,
    setting_option(
        "--prefetch",
        "HEADWAY_PROCESSOR_PREFETCH",
        "Unacknowledged messages held per worker thread, 1 to 1000. 1: a busy processor holds no "
        "task that an idle one could start; more: higher throughput for short tasks.",
    ),
]
ProcessorLeaseOption = Annotated[
    float,
    setting_option(
        "--lease-s",
        "HEADWAY_PROCESSOR_LEASE_S",
        "Lease on a running row (>= 1, longer than the heartbeat), renewed by the heartbeat; after "
        "a crash another processor takes the row over once it lapses.",
    ),
]
HeartbeatOption = Annotated[
    float,
    setting_option(
        "--heartbeat-s",
        "HEADWAY_PROCESSOR_HEARTBEAT_S",
        "Seconds between heartbeats, >= 0.1 (processor_heartbeats row and lease renewal).",
    ),
]
RetryBaseOption = Annotated[
    int,
    setting_option(
        "--retry-base-ms",
        "HEADWAY_RETRY_BASE_MS",
        "Backoff before the 2nd attempt; doubles per attempt (a type's config may override).",
    ),
]
RetryMaxOption = Annotated[int, setting_option("--retry-max-ms", "HEADWAY_RETRY_MAX_MS", "Longest backoff.")]
GraceOption = Annotated[
    float | None,
    setting_option(
        "--shutdown-grace-s",
        "HEADWAY_SHUTDOWN_GRACE_S",
        "On SIGTERM, how long running tasks may finish before they are requeued "
        "(default: the longest running task's timeout).",
    ),
]
OutboundAllowOption = Annotated[
    str,
    setting_option(
        "--outbound-allow",
        "HEADWAY_OUTBOUND_ALLOW",
        "Comma-separated hosts, addresses or CIDRs that task HTTP calls may reach although they "
        "are loopback, link-local, private or unspecified (refused by default).",
    ),
]
ReminderUrlOption = Annotated[
    str | None,
    setting_option("--reminder-url", "HEADWAY_REMINDER_URL", "Endpoint of the reminder handler."),
]
NotificationUrlOption = Annotated[
    str | None,
    setting_option("--notification-url", "HEADWAY_NOTIFICATION_URL", "Endpoint of the notification handler."),
]


def processor(
    ctx: typer.Context,
    concurrency: ConcurrencyOption = 4,
    prefetch: PrefetchOption = 1,
    lease_s: ProcessorLeaseOption = 30.0,
    heartbeat_s: HeartbeatOption = 5.0,
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
    health_port: ProcessorHealthPortOption = None,
    health_address: HealthAddressOption = "127.0.0.1",
    health_stall_s: HealthStallOption = 120.0,
) -> None:
    """Run tasks from the broker: handler per task type, retries, dead letters.

    SIGTERM stops consuming, lets running tasks finish (or requeues them) and exits 0."""
    from engine.process_configs import (
        ConfigError,
        broker_config,
        handler_config,
        health_config,
        processor_config,
    )
    from engine.processes.processor import new_processor_id

    settings = command_settings(ctx)
    try:
        config = processor_config(settings, new_processor_id(), ("--heartbeat-s", "--lease-s"))
    except ConfigError as error:
        fail(str(error))
    refuse_memory_broker(settings.broker_url)
    serve(
        settings.database_url,
        broker_config(settings),
        handler_config(settings),
        config,
        health_config(settings, "processor"),
    )


def serve(
    database_url: str,
    broker_config: BrokerConfig,
    handlers: HandlerConfig,
    config: ProcessorConfig,
    health: HealthConfig | None = None,
) -> None:
    """Wire the broker, the database and the handlers, and run the processor until a signal;
    with `health`, serve its /livez and /readyz meanwhile."""
    from engine.processes.processor import Processor

    setup_logging()
    # Before the database is reached: the endpoint tells while the processor waits for it.
    progress = None if health is None else start_health(health, database_url, broker_config.url)
    broker = open_broker(broker_config.url, broker_config.queue, broker_config.queue_type)
    engine = open_database(database_url, long_running=True)
    loaded = build_handlers(handlers)
    log = logging.getLogger("headway.processor")
    log.info(
        "processor %s: queue %s (%s), concurrency %d, prefetch %d, handlers %s",
        config.processor_id,
        broker_config.queue,
        broker_config.queue_type,
        config.concurrency,
        config.prefetch,
        ", ".join(sorted(loaded)),
    )
    try:
        freeze_startup_heap()
        Processor(engine, broker, loaded, config, progress=progress).run(stop_on_signals())
    finally:
        broker.close()
    log.info("processor %s stopped", config.processor_id)


def build_handlers(config: HandlerConfig) -> dict[str, Handler]:
    """The handlers by name, with the outbound policy and endpoints of `config`."""
    from engine.adapters.handlers import HandlerSettings, load_handlers
    from engine.core.outbound import parse_allowlist

    endpoints = {"reminder": config.reminder_url or "", "notification": config.notification_url or ""}
    return load_handlers(HandlerSettings(parse_allowlist(config.outbound_allow), endpoints))
