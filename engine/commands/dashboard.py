"""`headway dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption, fail, setting_option


def is_loopback(address: str) -> bool:
    """Whether only this machine can reach `address`: `127.0.0.1`, `::1`, `localhost`."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def dashboard(
    port: Annotated[int, setting_option("--port", "HEADWAY_DASHBOARD_PORT", "HTTP port.")] = 8501,
    address: Annotated[
        str,
        setting_option("--address", "HEADWAY_DASHBOARD_ADDRESS", "Interface to listen on (0.0.0.0: all)."),
    ] = "127.0.0.1",
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            envvar="HEADWAY_DASHBOARD_INSECURE_NO_AUTH",
            help="Serve beyond loopback without asking for the API token (anyone who reaches the "
            "port can change tasks).",
        ),
    ] = False,
) -> None:
    """Serve the dashboard (on time, tasks, capacity, metrics, dead letters, workers) at
    http://ADDRESS:PORT. Beyond loopback it asks for the API token (HEADWAY_API_TOKEN) first,
    and refuses to start without one unless --insecure-no-auth."""
    import os
    import sys
    from pathlib import Path

    import dashboard as dashboard_package
    from dashboard import LOGIN_VARIABLE
    from engine.settings import Settings

    login = not is_loopback(address) and not insecure_no_auth
    if login and not Settings().api_token:
        fail(
            f"--address {address} reaches beyond this machine: set HEADWAY_API_TOKEN (the dashboard "
            "asks for it) or pass --insecure-no-auth"
        )

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
    environment = {
        **os.environ,
        "HEADWAY_DATABASE_URL": database_url,
        LOGIN_VARIABLE: "token" if login else "off",
    }
    os.execve(sys.executable, command, environment)
