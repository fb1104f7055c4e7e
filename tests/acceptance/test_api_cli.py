"""`headway api` as an operator runs it: a real uvicorn process, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_cli import headway

pytestmark = pytest.mark.acceptance


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`headway api` on a migrated SQLite file, with a token from the environment."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    headway("db", "upgrade", database_url=url, check=True)
    port = free_port()
    env = dict(os.environ, HEADWAY_DATABASE_URL=url, HEADWAY_API_PORT=str(port), HEADWAY_API_TOKEN="t0ken")
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "api", "--no-access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"headway api did not come up: {process.communicate()[0]}")
        time.sleep(0.1)
    yield process, base
    if process.poll() is None:
        process.kill()
        process.wait()


def test_api_serves_tasks_with_the_token_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    process, base = served
    auth = {"Authorization": "Bearer t0ken"}
    assert httpx.get(f"{base}/tasks").status_code == 401
    created = httpx.post(
        f"{base}/tasks", json={"name": "hello", "task_type": "http", "kind": "immediate"}, headers=auth
    )
    assert created.status_code == 201
    listing = httpx.get(f"{base}/tasks", headers=auth).json()
    assert [item["name"] for item in listing["items"]] == ["hello"]
    assert httpx.get(f"{base}/openapi.json", headers=auth).json()["info"]["title"] == "Headway"

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=15)[0]
    # uvicorn shuts down gracefully, then re-raises the signal so supervisors see why it ended.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in output


def test_api_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = headway("api", "--port", str(free_port()), database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 1
    assert "headway db upgrade" in result.stderr
