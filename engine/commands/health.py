"""Options of the health endpoint that `scheduler`, `distributor` and `processor` serve, and
its start-up. The endpoint itself is `engine.adapters.health_server`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from engine.commands.common import fail, setting_option

if TYPE_CHECKING:
    from engine.ports import Progress
    from engine.process_configs import HealthConfig


def _port_option(role: str) -> object:
    return setting_option(
        "--health-port",
        f"HEADWAY_{role.upper()}_HEALTH_PORT",
        "Serve GET /livez and /readyz on this port (0: any free port; unset: no endpoint).",
    )


SchedulerHealthPortOption = Annotated[int | None, _port_option("scheduler")]
DistributorHealthPortOption = Annotated[int | None, _port_option("distributor")]
ProcessorHealthPortOption = Annotated[int | None, _port_option("processor")]
HealthAddressOption = Annotated[
    str,
    setting_option(
        "--health-address", "HEADWAY_HEALTH_ADDRESS", "Interface of the health endpoint (0.0.0.0: all)."
    ),
]
HealthStallOption = Annotated[
    float,
    setting_option(
        "--health-stall-s",
        "HEADWAY_HEALTH_STALL_S",
        "A loop with no step for this long is not live, with no good step not ready, 1 to 3600.",
    ),
]


def start_health(config: HealthConfig, database_url: str, broker_url: str | None = None) -> Progress | None:
    """Start the process's health endpoint when `config.port` is set, and return the progress
    hook its loop must call (None without an endpoint). Exit 1 when the port cannot be bound."""
    from engine.adapters.health_server import start_health_server

    try:
        server = start_health_server(
            config.role, config.address, config.port, database_url, broker_url, config.stall_s
        )
    except OSError as error:
        fail(f"health endpoint on {config.address}:{config.port}: {error.strerror or error}", code=1)
    return None if server is None else server.progress
