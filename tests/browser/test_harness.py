"""The browser harness itself: Chromium renders the dashboard served by `headway dashboard`."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.core.types import TaskKind
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task
from engine.services.tasks import list_tasks as stored_tasks
from tests.browser.conftest import Dashboard, grid_rows, open_page
from tests.dashboard.conftest import NOW


def test_the_tasks_page_renders_in_chromium(page: Page, dashboard: Dashboard) -> None:
    create_task(
        dashboard.engine, TaskInput(name="harness-check", task_type="http", kind=TaskKind.IMMEDIATE), NOW
    )
    open_page(page, dashboard, "tasks")
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    expect(page.get_by_text("1 tasks")).to_be_visible()
    [row] = grid_rows(page)
    assert (row["name"], row["type"], row["schedule"]) == ("harness-check", "http", "as soon as possible")
    assert stored_tasks(dashboard.engine).total == 1
