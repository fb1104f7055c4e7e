"""Beyond loopback the dashboard asks for the API token, and will not start without one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.acceptance.faults import free_port
from tests.browser.conftest import ARTIFACTS, Dashboard, settle, start_dashboard, stop_dashboard
from tests.conftest import fresh_pg_database

TOKEN = "s3cret-dashboard-token"


def test_refuses_to_listen_beyond_loopback_without_a_credential(pg_template: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")}
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "dashboard",
        "--address",
        "0.0.0.0",
        "--port",
        str(free_port()),
    ]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: --address 0.0.0.0 reaches beyond this machine: set HEADWAY_API_TOKEN (the dashboard asks "
        "for it) or pass --insecure-no-auth"
    ]


@pytest.fixture(scope="module")
def exposed(pg_template: str) -> Iterator[Dashboard]:
    with fresh_pg_database(pg_template) as database_url:
        server = start_dashboard(
            database_url,
            ARTIFACTS / "test_access.server.log",
            "--address",
            "0.0.0.0",
            env={"HEADWAY_API_TOKEN": TOKEN},
        )
        yield server
        stop_dashboard(server)


def test_asks_for_the_api_token_first(page: Page, exposed: Dashboard) -> None:
    page.goto(exposed.url)
    settle(page)
    expect(page.get_by_text("API token")).to_be_visible()
    expect(page.get_by_role("link", name="Tasks")).to_have_count(0)

    page.get_by_label("API token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("token: not the API token")).to_be_visible()

    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="On time")).to_be_visible()
    expect(page.get_by_role("link", name="Tasks")).to_be_visible()
