"""Each process's configuration, built from `Settings` by one function each.

`Settings` holds every default and every check; the functions here only pick the fields a
process needs, so `headway up` and the separate `headway scheduler`, `distributor`,
`processor`, `api` and `dashboard` read each `HEADWAY_*` setting the same way and cannot
drift. Example: with `HEADWAY_PROCESSOR_LEASE_S=40`, `processor_config(Settings(), "p")` is
`ProcessorConfig("p", lease_s=40.0, ...)` in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.processes.distributor import DistributorConfig
from engine.processes.processor import ProcessorConfig
from engine.settings import Settings

if TYPE_CHECKING:
    from engine.api.deps import ScalingDefaults


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    url: str
    queue: str
    queue_type: str


@dataclass(frozen=True, slots=True)
class ScalingConfig:
    """The formula's parameters, stored in `scaling_parameters` for the database views."""

    capacity_ms: int
    buffer: float


@dataclass(frozen=True, slots=True)
class HandlerConfig:
    outbound_allow: str
    reminder_url: str | None
    notification_url: str | None


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    interval_s: float
    forecast_hours: float
    window_hours: float | None
    # Finished history older than this is pruned by the Scheduler's loop (PruneStep).
    retention_days: int = 30


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str
    port: int
    token: str | None
    database_url: str
    broker_url: str
    # What /scaling/processors assumes when a request does not say.
    scaling_lead_minutes: int
    scaling_cooldown_minutes: int
    processor_concurrency: int


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    address: str
    port: int
    database_url: str
    # Beyond loopback the dashboard asks for the API token before any page, unless told not to.
    insecure_no_auth: bool
    login: bool
    token: str | None


class ConfigError(ValueError):
    """Settings that are each valid but do not fit together."""


def broker_config(settings: Settings) -> BrokerConfig:
    return BrokerConfig(settings.broker_url, settings.queue, settings.queue_type)


def scaling_config(settings: Settings) -> ScalingConfig:
    return ScalingConfig(settings.capacity_ms, settings.buffer)


def handler_config(settings: Settings) -> HandlerConfig:
    return HandlerConfig(settings.outbound_allow, settings.reminder_url, settings.notification_url)


def scheduler_config(settings: Settings) -> SchedulerConfig:
    return SchedulerConfig(
        interval_s=settings.scheduler_interval_s,
        forecast_hours=settings.forecast_hours,
        window_hours=settings.scheduler_window_hours,
        retention_days=settings.retention_days,
    )


def distributor_config(settings: Settings, distributor_id: str) -> DistributorConfig:
    return DistributorConfig(
        distributor_id=distributor_id,
        batch_size=settings.distributor_batch_size,
        poll_interval_s=settings.distributor_poll_interval_s,
        lease_s=settings.distributor_lease_s,
        reconcile_interval_s=settings.reconcile_interval_s,
        reconcile_queued_after_s=settings.reconcile_queued_after_s,
    )


def processor_config(
    settings: Settings, processor_id: str, names: tuple[str, str] = ("heartbeat", "lease")
) -> ProcessorConfig:
    """The processor's config; ConfigError when the heartbeat is not shorter than the lease it
    renews. `names` are how the caller's user spells the two (option or variable names)."""
    if settings.processor_heartbeat_s >= settings.processor_lease_s:
        heartbeat, lease = names
        raise ConfigError(
            f"{heartbeat} ({settings.processor_heartbeat_s:g}) must be shorter than {lease} "
            f"({settings.processor_lease_s:g}): the heartbeat renews the lease"
        )
    return ProcessorConfig(
        processor_id=processor_id,
        concurrency=settings.processor_concurrency,
        prefetch=settings.processor_prefetch,
        lease_s=settings.processor_lease_s,
        heartbeat_s=settings.processor_heartbeat_s,
        backoff_base_ms=settings.retry_base_ms,
        backoff_max_ms=settings.retry_max_ms,
        shutdown_grace_s=settings.shutdown_grace_s,
    )


def api_config(settings: Settings) -> ApiConfig:
    return ApiConfig(
        host=settings.api_host,
        port=settings.api_port,
        token=settings.api_token or None,
        database_url=settings.database_url,
        broker_url=settings.broker_url,
        scaling_lead_minutes=settings.scaling_lead_minutes,
        scaling_cooldown_minutes=settings.scaling_cooldown_minutes,
        processor_concurrency=settings.processor_concurrency,
    )


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Where one process serves its health endpoint; `port` None: it serves none."""

    role: str
    port: int | None
    address: str
    stall_s: float


def health_config(settings: Settings, role: str) -> HealthConfig:
    """`role`'s endpoint from the settings (`HEADWAY_<ROLE>_HEALTH_PORT` and the shared ones)."""
    port = getattr(settings, f"{role}_health_port")
    return HealthConfig(role, port, settings.health_address, settings.health_stall_s)


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach `address`: `127.0.0.1`, `::1`, `localhost`."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def dashboard_config(settings: Settings) -> DashboardConfig:
    """The dashboard's config; ConfigError when it would listen beyond loopback with no
    credential to ask for, unless `dashboard_insecure_no_auth` says so explicitly."""
    address = settings.dashboard_address
    login = not is_loopback(address) and not settings.dashboard_insecure_no_auth
    token = settings.api_token or None
    if login and token is None:
        raise ConfigError(
            f"--address {address} reaches beyond this machine: set HEADWAY_API_TOKEN (the dashboard "
            "asks for it) or pass --insecure-no-auth"
        )
    return DashboardConfig(
        address,
        settings.dashboard_port,
        settings.database_url,
        settings.dashboard_insecure_no_auth,
        login,
        token,
    )


@dataclass(frozen=True, slots=True)
class UpConfig:
    """Everything `headway up` runs; `api` and `dashboard` are None when turned off."""

    database_url: str
    broker: BrokerConfig
    scaling: ScalingConfig
    handlers: HandlerConfig
    scheduler: SchedulerConfig
    distributor: DistributorConfig
    processor: ProcessorConfig
    api: ApiConfig | None
    dashboard: DashboardConfig | None
    demo: bool


def up_config(
    settings: Settings,
    distributor_id: str,
    processor_id: str,
    serve_api: bool = True,
    names: tuple[str, str] = ("heartbeat", "lease"),
) -> UpConfig:
    """`headway up`'s config: the pieces the separate processes build, from the same
    settings, plus whether to serve the API, the dashboard (`HEADWAY_DASHBOARD`) and the
    demo (`HEADWAY_DEMO`)."""
    return UpConfig(
        database_url=settings.database_url,
        broker=broker_config(settings),
        scaling=scaling_config(settings),
        handlers=handler_config(settings),
        scheduler=scheduler_config(settings),
        distributor=distributor_config(settings, distributor_id),
        processor=processor_config(settings, processor_id, names),
        api=api_config(settings) if serve_api else None,
        dashboard=dashboard_config(settings) if settings.dashboard else None,
        demo=settings.demo,
    )


def api_scaling_defaults(config: ApiConfig) -> ScalingDefaults:
    from engine.api.deps import ScalingDefaults

    return ScalingDefaults(
        config.scaling_lead_minutes, config.scaling_cooldown_minutes, config.processor_concurrency
    )
