"""`headway api`: the REST API (FastAPI on uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import (
    DEFAULT_BROKER_URL,
    DEFAULT_DATABASE_URL,
    BrokerUrlOption,
    DatabaseUrlOption,
    ScalingCooldownOption,
    ScalingLeadOption,
    command_settings,
    open_database,
    setting_option,
    setup_logging,
)

if TYPE_CHECKING:
    from engine.process_configs import ApiConfig


def api(
    ctx: typer.Context,
    host: Annotated[str, setting_option("--host", "HEADWAY_API_HOST", "Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, setting_option("--port", "HEADWAY_API_PORT", "Port to listen on.")] = 8000,
    token: Annotated[
        str | None,
        setting_option(
            "--token",
            "HEADWAY_API_TOKEN",
            "Require `Authorization: Bearer <token>` on every endpoint but /health "
            "(prefer the variable: a command line is visible to other users).",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log one line per request.")
    ] = True,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    scaling_lead_minutes: ScalingLeadOption = 15,
    scaling_cooldown_minutes: ScalingCooldownOption = 5,
    processor_concurrency: Annotated[
        int,
        setting_option(
            "--processor-concurrency",
            "HEADWAY_PROCESSOR_CONCURRENCY",
            "Tasks each processor runs at once: GET /scaling/processors divides worker slots by it.",
        ),
    ] = 4,
) -> None:
    """Serve the REST API; OpenAPI at /docs and /openapi.json."""
    from engine.process_configs import api_config

    serve(api_config(command_settings(ctx)), access_log)


def serve(config: ApiConfig, access_log: bool) -> None:
    """Serve the API until a signal (uvicorn's own handling)."""
    import uvicorn

    from engine.api.app import create_app

    setup_logging()
    # Refuse to start on a database that is unreachable or not migrated, with the reason.
    open_database(config.database_url).dispose()
    from engine.process_configs import api_scaling_defaults

    app = create_app(
        config.database_url,
        config.broker_url,
        config.token or "",
        scaling_defaults=api_scaling_defaults(config),
    )
    uvicorn.run(app, host=config.host, port=config.port, access_log=access_log, log_level="info")
