"""Browser tests: Debian's Chromium, driven by Playwright, against `headway dashboard` on a
PostgreSQL database of the module's own.

One dashboard server serves a whole module (it takes seconds to start); each test gets a
fresh browser page and leaves a full-page screenshot in `tests/artifacts/browser/`. Chromium
is installed by the test setup (`make test`, `.ci/run`); under CI a missing one fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine

from engine.adapters.database import create_db_engine
from tests.acceptance.faults import free_port
from tests.conftest import IN_CI, fresh_pg_database

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox: tests run as root in a container. The rest keeps Chromium off the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
START_TIMEOUT_S = 60
RENDER_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1440, "height": 1000}

pytestmark = pytest.mark.acceptance
# Pages render in a second or two, slower while the rest of the suite shares the machine.
expect.set_options(timeout=RENDER_TIMEOUT_MS)


def launch_chromium(playwright_api: object) -> Browser:
    """Debian's Chromium, headless (also used by benchmarks/dashboard_pages.py)."""
    return playwright_api.chromium.launch(  # type: ignore[attr-defined, no-any-return]
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does this)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright_api:
        chromium = launch_chromium(playwright_api)
        yield chromium
        chromium.close()


@dataclass
class Dashboard:
    url: str
    database_url: str
    engine: Engine
    process: subprocess.Popen[str]


def start_dashboard(
    database_url: str, log: Path, *extra: str, env: dict[str, str] | None = None
) -> Dashboard:
    """`headway dashboard` on a free loopback port, once its health check answers."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")} | (env or {})
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "dashboard", "--port", str(port), "--database-url", database_url,
         *extra],
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return Dashboard(url, database_url, create_db_engine(database_url), process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the dashboard did not start on {port}:\n{log.read_text()}")


def stop_dashboard(dashboard: Dashboard) -> None:
    dashboard.process.terminate()
    try:
        dashboard.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        dashboard.process.kill()
    dashboard.engine.dispose()


@pytest.fixture(scope="module")
def dashboard(pg_template: str, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    """One dashboard server and database for the module's tests."""
    with fresh_pg_database(pg_template) as database_url:
        log = ARTIFACTS / f"{request.module.__name__.rsplit('.', 1)[-1]}.server.log"
        server = start_dashboard(database_url, log)
        yield server
        stop_dashboard(server)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; a full-page screenshot is written when the test ends, pass or fail."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    tab = context.new_page()
    tab.set_default_timeout(RENDER_TIMEOUT_MS)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    try:
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


def open_page(page: Page, dashboard: Dashboard, path: str = "") -> None:
    """Load a dashboard page and wait until the script run has finished."""
    page.goto(f"{dashboard.url}/{path}")
    settle(page)


def settle(page: Page) -> None:
    """Wait for Streamlit to finish the current script run (its status widget goes away)."""
    expect(page.locator("[data-testid='stApp']")).to_be_visible()
    page.wait_for_timeout(300)  # a rerun caused by the last action may not have begun yet
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0)
    expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)


def grid_rows(page: Page, index: int = 0) -> list[dict[str, str]]:
    """The rows of the `index`-th data grid on the page, as its cells' text by column header.

    The grid draws on a canvas; the table inside the canvas is what screen readers read,
    and it holds the visible rows."""
    table = page.locator("[data-testid='stDataFrame']").nth(index).locator("table[role='grid']")
    expect(table).to_have_count(1)
    rows: list[dict[str, str]] = table.evaluate(
        """table => {
            const headers = [...table.querySelectorAll('thead th')].map(th => th.textContent);
            return [...table.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
                [...tr.querySelectorAll('td')].map((td, i) => [headers[i], td.textContent])));
        }"""
    )
    return rows


def grid_rows_when(
    page: Page, ready: Callable[[list[dict[str, str]]], bool], index: int = 0, timeout_s: float = 10.0
) -> list[dict[str, str]]:
    """`grid_rows`, read again until `ready` holds for them or `timeout_s` has passed (then the
    last reading, for the caller's assertion to show). The grid fills its table while it lays
    out its columns: a cell read at once after a rerun can still be empty."""
    deadline = time.monotonic() + timeout_s
    rows = grid_rows(page, index)
    while not ready(rows) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        rows = grid_rows(page, index)
    return rows
