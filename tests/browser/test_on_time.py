"""On time page in Chromium: late starts and waiting rows after the processors stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import insert

from engine.adapters.tables import task_schedule
from tests.browser.conftest import Dashboard, open_page
from tests.integration.helpers import add_cron_task


def test_late_starts_and_waiting_rows_after_processors_stopped(page: Page, dashboard: Dashboard) -> None:
    # The dashboard reads the real clock, so the rows are placed relative to it: runs of a
    # quarter of an hour ago started on time, then the processors stopped: the last runs
    # started 40 s late and the rows due since are still Queued.
    now = datetime.now(UTC)
    task = add_cron_task(dashboard.engine, now, "0 0 1 1 *", name="stopped-processors")
    earlier = now.replace(second=0, microsecond=0) - timedelta(minutes=15)
    rows = [
        {"scheduled_time": earlier + timedelta(seconds=s), "status": "Succeeded", "start_lag_ms": 400}
        for s in range(0, 50, 5)
    ]
    rows += [
        {
            "scheduled_time": now - timedelta(minutes=3, seconds=s),
            "status": "Succeeded",
            "start_lag_ms": 40_000,
        }
        for s in range(3)
    ]
    rows += [{"scheduled_time": now - timedelta(seconds=30 + s), "status": "Queued", "start_lag_ms": None}
             for s in range(5)]  # fmt: skip
    with dashboard.engine.begin() as connection:
        connection.execute(insert(task_schedule), [{"task_id": task.id, "attempt": 1} | row for row in rows])

    open_page(page, dashboard)  # On time is the first page

    alert = page.get_by_text("Late now: runs are not starting within 10 s.")
    expect(alert).to_be_visible()
    expect(page.get_by_text("5 runs due more than 10 s ago have not started")).to_be_visible()
    expect(page.get_by_text("3 runs of the last 5 minutes started later than 10 s")).to_be_visible()
    late_metric = page.locator("[data-testid='stMetric']", has_text="Late and waiting now")
    expect(late_metric.locator("[data-testid='stMetricValue']")).to_have_text("5")
    chart = page.locator("[data-testid='stVegaLiteChart']")
    expect(chart.locator(".role-legend")).to_contain_text("p95")
    expect(chart.get_by_text("target 10 s")).to_be_visible()
