"""`headway dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    DatabaseUrlOption,
    command_settings,
    fail,
    from_settings,
    setting_option,
)

if TYPE_CHECKING:
    from engine.process_configs import DashboardConfig


def dashboard(
    ctx: typer.Context,
    port: Annotated[int, setting_option("--port", "HEADWAY_DASHBOARD_PORT", "HTTP port.")] = 8501,
    address: Annotated[
        str,
        setting_option("--address", "HEADWAY_DASHBOARD_ADDRESS", "Interface to listen on (0.0.0.0: all)."),
    ] = "127.0.0.1",
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    api_token: Annotated[
        str | None,
        setting_option(
            "--api-token",
            "HEADWAY_API_TOKEN",
            "The credential the dashboard asks for beyond loopback (prefer the variable: a command "
            "line is visible to other users).",
        ),
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            envvar="HEADWAY_DASHBOARD_INSECURE_NO_AUTH",
            help="Serve beyond loopback without asking for the API token (anyone who reaches the "
            "port can change tasks).",
            callback=from_settings,
        ),
    ] = False,
) -> None:
    """Serve the dashboard (on time, tasks, capacity, metrics, dead letters, workers) at
    http://ADDRESS:PORT. Beyond loopback it asks for the API token (HEADWAY_API_TOKEN) first,
    and refuses to start without one unless --insecure-no-auth."""
    from engine.process_configs import ConfigError, dashboard_config

    try:
        config = dashboard_config(command_settings(ctx))
    except ConfigError as error:
        fail(str(error))
    serve(config)


def serve(config: DashboardConfig) -> None:
    """Become the Streamlit server, so signals and the exit status are its own."""
    import os
    import sys

    command, env = streamlit_command(config)
    typer.echo(f"dashboard at http://{config.address}:{config.port}", err=True)
    os.execve(sys.executable, command, env)


def streamlit_command(config: DashboardConfig) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of the Streamlit server for `config`; `headway up`
    starts the same one as its child."""
    import os
    import sys
    from pathlib import Path

    import dashboard as dashboard_package
    from dashboard import LOGIN_VARIABLE

    app_path = Path(dashboard_package.__file__).resolve().parent / "app.py"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(config.port),
        "--server.address",
        config.address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    environment = {
        **os.environ,
        "HEADWAY_DATABASE_URL": config.database_url,
        LOGIN_VARIABLE: "token" if config.login else "off",
    }
    if config.token is not None:  # `headway up --api-token` may not have come from the variable
        environment["HEADWAY_API_TOKEN"] = config.token
    return command, environment
