"""`headway up`: the whole product in one command."""

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
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    ForecastHoursOption,
    QueueOption,
    QueueTypeOption,
    RetentionDaysOption,
    ScalingCooldownOption,
    ScalingLeadOption,
    bool_setting_option,
    command_settings,
    fail,
    from_settings,
    open_broker,
    open_database,
    setting_option,
    setup_logging,
    stop_on_signals,
)
from engine.commands.distributor import (
    BatchSizeOption,
    PollIntervalOption,
    ReconcileIntervalOption,
    ReconcileQueuedAfterOption,
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

if TYPE_CHECKING:
    import socket

    from sqlalchemy import Engine

    from engine.ports import Handler
    from engine.process_configs import HandlerConfig, UpConfig
    from engine.processes.embedded import Service

log = logging.getLogger("headway.up")


def up(
    ctx: typer.Context,
    api_host: Annotated[
        str, setting_option("--api-host", "HEADWAY_API_HOST", "REST API address.")
    ] = "127.0.0.1",
    api_port: Annotated[int, setting_option("--api-port", "HEADWAY_API_PORT", "REST API port.")] = 8000,
    api_token: Annotated[
        str | None,
        setting_option(
            "--api-token",
            "HEADWAY_API_TOKEN",
            "Require `Authorization: Bearer <token>` (prefer the variable).",
        ),
    ] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the REST API.")] = False,
    dashboard: Annotated[
        bool,
        bool_setting_option("--dashboard/--no-dashboard", "HEADWAY_DASHBOARD", "Serve the dashboard too."),
    ] = True,
    dashboard_port: Annotated[
        int, setting_option("--dashboard-port", "HEADWAY_DASHBOARD_PORT", "Dashboard port.")
    ] = 8501,
    dashboard_address: Annotated[
        str, setting_option("--dashboard-address", "HEADWAY_DASHBOARD_ADDRESS", "Dashboard address.")
    ] = "127.0.0.1",
    dashboard_insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--dashboard-insecure-no-auth",
            envvar="HEADWAY_DASHBOARD_INSECURE_NO_AUTH",
            help="Serve the dashboard beyond loopback without asking for the API token.",
            callback=from_settings,
        ),
    ] = False,
    demo: Annotated[
        bool,
        bool_setting_option(
            "--demo/--no-demo", "HEADWAY_DEMO", "On an empty database, add the demo fleet (`headway demo`)."
        ),
    ] = True,
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
    retention_days: RetentionDaysOption = 30,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    batch_size: BatchSizeOption = 1_000,
    poll_interval_s: PollIntervalOption = 0.5,
    distributor_lease_s: Annotated[
        float,
        setting_option("--distributor-lease-s", "HEADWAY_DISTRIBUTOR_LEASE_S", "How long a claim holds."),
    ] = 30.0,
    concurrency: ConcurrencyOption = 4,
    prefetch: PrefetchOption = 1,
    processor_lease_s: Annotated[
        float,
        setting_option("--processor-lease-s", "HEADWAY_PROCESSOR_LEASE_S", "Lease on a running row."),
    ] = 30.0,
    heartbeat_s: Annotated[
        float,
        setting_option("--heartbeat-s", "HEADWAY_PROCESSOR_HEARTBEAT_S", "Seconds between heartbeats."),
    ] = 5.0,
    retry_base_ms: RetryBaseOption = 1_000,
    retry_max_ms: RetryMaxOption = 300_000,
    shutdown_grace_s: GraceOption = None,
    outbound_allow: OutboundAllowOption = "",
    reminder_url: ReminderUrlOption = None,
    notification_url: NotificationUrlOption = None,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    reconcile_interval_s: ReconcileIntervalOption = 10.0,
    reconcile_queued_after_s: ReconcileQueuedAfterOption = 600.0,
    scaling_lead_minutes: ScalingLeadOption = 15,
    scaling_cooldown_minutes: ScalingCooldownOption = 5,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Everything: Scheduler, Distributor, Processor, the REST API and the dashboard.

    Uses the in-process broker and the SQLite default unless told otherwise. On an empty
    database it adds the demo fleet (`--no-demo` or HEADWAY_DEMO=false: not), run against a
    built-in echo endpoint; `headway demo remove` deletes it. Exits 2 if a port is taken."""
    from engine.process_configs import ConfigError, up_config
    from engine.processes.distributor import new_distributor_id
    from engine.processes.processor import new_processor_id

    settings = command_settings(ctx)
    try:
        config = up_config(
            settings,
            new_distributor_id(),
            new_processor_id(),
            serve_api=not no_api,
            names=("--heartbeat-s", "--processor-lease-s"),
        )
    except ConfigError as error:
        fail(str(error))
    serve(config)


def serve(config: UpConfig) -> None:
    """Check the ports, wire everything, add the demo if asked, and run until a signal; exit 1
    if a part stopped with an error."""
    from engine.adapters.database import store_scaling_parameters
    from engine.processes.embedded import run_embedded

    setup_logging()
    api_socket = _claim_ports(config)
    stop = stop_on_signals()
    broker = open_broker(config.broker.url, config.broker.queue, config.broker.queue_type, allow_memory=True)
    engine = open_database(config.database_url, long_running=True)
    with engine.begin() as connection:
        store_scaling_parameters(connection, config.scaling.capacity_ms, config.scaling.buffer)
    services, echo_url = _services(config, api_socket)
    handlers = up_handlers(config.handlers, echo_url)
    if config.demo:
        _add_demo_if_empty(engine)
    _print_urls(config, api_socket.getsockname()[1] if api_socket is not None else None)
    try:
        failed = run_embedded(engine, broker, handlers, config, stop, services)
    finally:
        broker.close()
    if failed:
        fail(f"stopped because {', '.join(failed)} failed (see the log above)", code=1)


def _claim_ports(config: UpConfig) -> socket.socket | None:
    """Bind the API's port (kept for uvicorn) and probe the dashboard's, before anything
    starts; exit 2 naming the first that is taken."""
    from engine.processes.embedded import listening_socket

    api_socket = None
    if config.api is not None:
        try:
            api_socket = listening_socket(config.api.host, config.api.port)
        except OSError as error:
            fail(
                f"API port {config.api.port} on {config.api.host} is not free ({error.strerror}); "
                "set --api-port or HEADWAY_API_PORT"
            )
    if config.dashboard is not None:
        try:
            listening_socket(config.dashboard.address, config.dashboard.port).close()
        except OSError as error:
            if api_socket is not None:
                api_socket.close()
            fail(
                f"dashboard port {config.dashboard.port} on {config.dashboard.address} is not free "
                f"({error.strerror}); set --dashboard-port or HEADWAY_DASHBOARD_PORT"
            )
    return api_socket


def _services(config: UpConfig, api_socket: socket.socket | None) -> tuple[list[Service], str]:
    """The API (if asked), the echo endpoint and the dashboard supervisor (if asked); the
    echo endpoint's URL."""
    from engine.adapters.echo_endpoint import ECHO_PATH, create_echo_app
    from engine.commands.dashboard import streamlit_command
    from engine.processes.embedded import Service, listening_socket, uvicorn_service  # noqa: F811
    from engine.processes.supervisor import Supervisor

    echo_socket = listening_socket("127.0.0.1", 0)
    echo_url = f"http://127.0.0.1:{echo_socket.getsockname()[1]}{ECHO_PATH}"
    services: list[Service] = [uvicorn_service("echo", create_echo_app(), echo_socket)]
    if config.api is not None and api_socket is not None:
        from engine.api.app import create_app
        from engine.process_configs import api_scaling_defaults

        app = create_app(
            config.api.database_url,
            config.api.broker_url,
            config.api.token or "",
            scaling_defaults=api_scaling_defaults(config.api),
        )
        services.append(uvicorn_service("api", app, api_socket))
    if config.dashboard is not None:
        command, env = streamlit_command(config.dashboard)
        services.append(Service("dashboard", Supervisor("dashboard", command, env).run))
    return services, echo_url


def up_handlers(config: HandlerConfig, echo_url: str) -> dict[str, Handler]:
    """The processor's handlers plus `echo` (the demo types' handler), which calls the
    built-in echo endpoint. `reminder` and `notification` without a configured URL call it
    too, so the default types do not fail out of the box; only this client may reach
    127.0.0.1, other calls keep the outbound policy."""
    from engine.adapters.handlers import EndpointHandler
    from engine.adapters.outbound_http import guarded_client
    from engine.core.outbound import parse_allowlist

    handlers = build_handlers(config)
    local = guarded_client(parse_allowlist(f"{config.outbound_allow},127.0.0.1"))
    handlers["echo"] = EndpointHandler(local, "echo", echo_url)
    if not config.reminder_url:
        handlers["reminder"] = EndpointHandler(local, "reminder", echo_url)
    if not config.notification_url:
        handlers["notification"] = EndpointHandler(local, "notification", echo_url)
    return handlers


def _add_demo_if_empty(engine: Engine) -> None:
    from engine.commands.common import utc_now
    from engine.demo import add_demo, has_tasks

    if has_tasks(engine):
        return
    added = add_demo(engine, utc_now())
    log.info("empty database: added %d demo tasks (remove them with `headway demo remove`)", added)


def _print_urls(config: UpConfig, api_port: int | None) -> None:
    lines = ["Headway is up."]
    if config.api is not None and api_port is not None:
        lines.append(f"  REST API:  {_url(config.api.host, api_port)}/docs")
    if config.dashboard is not None:
        lines.append(f"  Dashboard: {_url(config.dashboard.address, config.dashboard.port)}")
    lines.append("  Stop with Ctrl-C.")
    typer.echo("\n".join(lines))


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host)
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
