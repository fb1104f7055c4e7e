"""`headway dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption, setting_option


def dashboard(
    port: Annotated[int, setting_option("--port", "HEADWAY_DASHBOARD_PORT", "HTTP port.")] = 8501,
    address: Annotated[
        str,
        setting_option("--address", "HEADWAY_DASHBOARD_ADDRESS", "Interface to listen on (0.0.0.0: all)."),
    ] = "127.0.0.1",
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Serve the dashboard (tasks, new task, capacity, metrics) at http://ADDRESS:PORT."""
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
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    typer.echo(f"dashboard at http://{address}:{port}", err=True)
    # Become the Streamlit server, so signals and the exit status are its own.
    os.execve(sys.executable, command, {**os.environ, "HEADWAY_DATABASE_URL": database_url})
