"""`headway dashboard` as users run it: a Streamlit server on the port asked for."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.acceptance

START_TIMEOUT_S = 45


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_dashboard_serves_the_app_and_stops_on_sigterm(sqlite_url: str) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "HEADWAY_DATABASE_URL"}
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "dashboard", "--port", str(port), "--database-url", sqlite_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None and health.status_code == 200, f"no server on {port}"
        assert health.text == "ok"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert "<title>" in page.text.lower() or "<!doctype html>" in page.text.lower()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert f"dashboard at http://127.0.0.1:{port}" in output
