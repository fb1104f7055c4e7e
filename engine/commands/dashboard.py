"""`headway dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption, command_settings, setting_option

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
) -> None:
    """Serve the dashboard (tasks, new task, capacity, metrics) at http://ADDRESS:PORT."""
    from engine.process_configs import dashboard_config

    serve(dashboard_config(command_settings(ctx)))


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
    return command, {**os.environ, "HEADWAY_DATABASE_URL": config.database_url}
