"""`headway processor`: consumes task messages and runs their handlers."""

from __future__ import annotations

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
    open_broker,
    open_database,
    setup_logging,
    stop_on_signals,
)

if TYPE_CHECKING:
    from engine.ports import Handler

# Options, shared with `headway up`.
ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--concurrency",
        envvar="HEADWAY_PROCESSOR_CONCURRENCY",
        min=1,
        max=1_000,
        help="Tasks run at once (worker threads).",
    ),
]
PrefetchOption = Annotated[
    int,
    typer.Option(
        "--prefetch",
        envvar="HEADWAY_PROCESSOR_PREFETCH",
        min=1,
        max=1_000,
        help="Unacknowledged messages held per worker thread. 1: a busy processor holds no "
        "task that an idle one could start; more: higher throughput for short tasks.",
    ),
]
ProcessorLeaseOption = Annotated[
    float,
    typer.Option(
        "--lease-s",
        envvar="HEADWAY_PROCESSOR_LEASE_S",
        min=1,
        help="Lease on a running row, renewed by the heartbeat; after a crash another "
        "processor takes the row over once it lapses.",
    ),
]
HeartbeatOption = Annotated[
    float,
    typer.Option(
        "--heartbeat-s",
        envvar="HEADWAY_PROCESSOR_HEARTBEAT_S",
        min=0.1,
        help="Seconds between heartbeats (processor_heartbeats row and lease renewal).",
    ),
]
RetryBaseOption = Annotated[
    int,
    typer.Option(
        "--retry-base-ms",
        envvar="HEADWAY_RETRY_BASE_MS",
        min=0,
        help="Backoff before the 2nd attempt; doubles per attempt (a type's config may override).",
    ),
]
RetryMaxOption = Annotated[
    int,
    typer.Option("--retry-max-ms", envvar="HEADWAY_RETRY_MAX_MS", min=0, help="Longest backoff."),
]
GraceOption = Annotated[
    float | None,
    typer.Option(
        "--shutdown-grace-s",
        envvar="HEADWAY_SHUTDOWN_GRACE_S",
        min=0,
        help="On SIGTERM, how long running tasks may finish before they are requeued "
        "(default: the longest running task's timeout).",
    ),
]
OutboundAllowOption = Annotated[
    str,
    typer.Option(
        "--outbound-allow",
        envvar="HEADWAY_OUTBOUND_ALLOW",
        help="Comma-separated hosts or CIDRs that task HTTP calls may reach although they are "
        "loopback, link-local, private or unspecified (refused by default).",
    ),
]
ReminderUrlOption = Annotated[
    str,
    typer.Option("--reminder-url", envvar="HEADWAY_REMINDER_URL", help="Endpoint of the reminder handler."),
]
NotificationUrlOption = Annotated[
    str,
    typer.Option(
        "--notification-url", envvar="HEADWAY_NOTIFICATION_URL", help="Endpoint of the notification handler."
    ),
]


def processor(
    concurrency: ConcurrencyOption = 4,
    prefetch: PrefetchOption = 1,
    lease_s: ProcessorLeaseOption = 30.0,
    heartbeat_s: HeartbeatOption = 5.0,
    retry_base_ms: RetryBaseOption = 1_000,
    retry_max_ms: RetryMaxOption = 300_000,
    shutdown_grace_s: GraceOption = None,
    outbound_allow: OutboundAllowOption = "",
    reminder_url: ReminderUrlOption = "",
    notification_url: NotificationUrlOption = "",
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Run tasks from the broker: handler per task type, retries, dead letters.

    SIGTERM stops consuming, lets running tasks finish (or requeues them) and exits 0."""
    from engine.processes.processor import Processor, ProcessorConfig, new_processor_id

    setup_logging()
    engine = open_database(database_url, long_running=True)
    broker = open_broker(broker_url, queue, queue_type)
    handlers = build_handlers(outbound_allow, reminder_url, notification_url)
    config = ProcessorConfig(
        new_processor_id(),
        concurrency,
        prefetch,
        lease_s,
        heartbeat_s,
        retry_base_ms,
        retry_max_ms,
        shutdown_grace_s,
    )
    try:
        Processor(engine, broker, handlers, config).run(stop_on_signals())
    finally:
        broker.close()


def build_handlers(outbound_allow: str, reminder_url: str, notification_url: str) -> dict[str, Handler]:
    """The handlers by name, with the outbound policy and endpoints from the options."""
    from engine.adapters.handlers import HandlerSettings, load_handlers
    from engine.core.outbound import parse_allowlist

    endpoints = {"reminder": reminder_url, "notification": notification_url}
    return load_handlers(HandlerSettings(parse_allowlist(outbound_allow), endpoints))
