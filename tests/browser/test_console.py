"""The operations console in Chromium, against `headway dashboard` on PostgreSQL: tasks
created, refused, edited and set inactive through the forms; the capacity headline and
legend; a dead letter replayed from the page and then run by `headway up`, another discarded.

The dashboard reads the real clock, so expectations are computed from it by the core."""

from __future__ import annotations

import contextlib
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import insert, select

from engine.adapters.tables import task_schedule
from engine.core.cron import CronSchedule, next_fire_times
from engine.services.tasks import TaskFilter, get_task, list_tasks
from tests.acceptance.faults import Headway, wait_for
from tests.browser.conftest import Dashboard, grid_rows, grid_rows_when, open_page, settle
from tests.integration.helpers import add_cron_task
from tests.sink import running_sink

# One worker runs the module, so its tests share one dashboard server.
pytestmark = pytest.mark.xdist_group("browser-console")

# Fires once a year: nothing created here comes due while the module runs.
YEARLY = "0 0 1 1 *"


def fill_field(page: Page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")  # Streamlit takes a text field's value when it loses focus
    settle(page)


def pick(page: Page, label: str, option: str, shows: Locator) -> None:
    """Choose `option` in a select box until `shows` appears: a pick made while an earlier
    run of the page is still finishing can be undone by it."""
    for _ in range(3):
        page.get_by_label(label).click()
        with contextlib.suppress(PlaywrightTimeoutError):  # already picked: not offered again
            page.get_by_role("option", name=option).click(timeout=5_000)
        if page.get_by_role("listbox").count():
            page.keyboard.press("Escape")  # a multiselect keeps its list open
        settle(page)
        try:
            expect(shows).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue
    expect(shows).to_be_visible()


def wait_until_listed(page: Page, dashboard: Dashboard, row_id: int) -> None:
    """Open the dead-letter page until it lists `row_id`: the list is cached for seconds, so a
    page drawn just before the row died may not show it yet."""

    def listed() -> bool:
        open_page(page, dashboard, "dead_letters")
        shown = grid_rows(page) if page.locator("[data-testid='stDataFrame']").count() else []
        return any(r["row"] == str(row_id) for r in shown)

    wait_for(listed, 30, "the dead letter listed")


def test_create_a_cron_task_and_see_its_next_run_in_the_grid(page: Page, dashboard: Dashboard) -> None:
    open_page(page, dashboard, "new_task")
    fill_field(page, "Name", "browser-yearly")
    fill_field(page, "Cron expression", YEARLY)
    expect(page.get_by_text("At 00:00, on day 1 of the month, only in January (UTC)")).to_be_visible()
    # A click that lands while the page is being drawn again can be lost; it is made again
    # only while no such task is stored, so that exactly one is created.
    for _ in range(3):
        page.get_by_role("button", name="Create task").click()
        with contextlib.suppress(AssertionError):
            expect(page.get_by_text("Created task #")).to_be_visible(timeout=10_000)
            break
        if list_tasks(dashboard.engine, TaskFilter(name_contains="browser-yearly")).total:
            break
    assert list_tasks(dashboard.engine, TaskFilter(name_contains="browser-yearly")).total == 1

    # Under a loaded machine the grid has kept this row's next-run cell empty for more than
    # 10 s, rarely and for a cause not found yet; a second drawing of the page is read then,
    # and the first one's row, the tasks as stored and the page are reported as a warning.
    for drawing in (1, 2):
        open_page(page, dashboard, "tasks")
        fill_field(page, "Name contains", "browser-yearly")
        [row] = grid_rows_when(page, lambda rows: len(rows) == 1 and rows[0]["next run"] != "")
        if row["next run"] != "" or drawing == 2:
            break
        stored = list_tasks(dashboard.engine, now=datetime.now(UTC)).items
        warnings.warn(f"tasks grid without a next run: {row} {stored} {page.content()[:4000]}", stacklevel=1)
    [expected] = next_fire_times(CronSchedule(YEARLY), datetime.now(UTC), 1)
    assert (row["name"], row["schedule"]) == ("browser-yearly", f"{YEARLY} (UTC)")
    assert row["next run"] == f"{expected:%Y-%m-%d %H:%M} UTC", row
    assert row["due"].startswith("in ")


def test_a_bad_cron_shows_the_field_error_and_stores_nothing(page: Page, dashboard: Dashboard) -> None:
    before = list_tasks(dashboard.engine).total
    open_page(page, dashboard, "new_task")
    fill_field(page, "Name", "browser-bad-cron")
    fill_field(page, "Cron expression", "61 * * * *")
    page.get_by_role("button", name="Create task").click()
    settle(page)
    expect(page.get_by_text("Not saved. cron_expression:")).to_be_visible()
    expect(
        page.locator("[data-testid='stAlertContentError']", has_text="cron_expression").first
    ).to_be_visible()
    assert list_tasks(dashboard.engine).total == before


def test_edit_then_set_inactive_which_asks_first(page: Page, dashboard: Dashboard) -> None:
    task = add_cron_task(dashboard.engine, datetime.now(UTC), YEARLY, name="browser-edit-me")
    open_page(page, dashboard, "tasks")
    # The grid's rows are cached for seconds and the page may have been drawn just before the
    # task was added: a filter no earlier run used reads the tasks afresh (and keeps the task
    # in view once renamed).
    fill_field(page, "Name contains", "browser-edit")
    pick(page, "Task to edit", f"#{task.id} browser-edit-me", page.get_by_role("button", name="Save changes"))
    fill_field(page, "Name", "browser-edited")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"Saved task #{task.id}.")).to_be_visible()
    assert get_task(dashboard.engine, task.id).name == "browser-edited"

    page.get_by_role("button", name="Set inactive…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("stops running")
    assert get_task(dashboard.engine, task.id).active  # asked, not done
    dialog.get_by_role("button", name="Set inactive").click()
    expect(page.get_by_text(f"Task #{task.id} is inactive")).to_be_visible()
    assert not get_task(dashboard.engine, task.id).active


def test_capacity_headline_names_the_peak_and_the_chart_has_a_legend(
    page: Page, dashboard: Dashboard
) -> None:
    now = datetime.now(UTC)
    task = add_cron_task(dashboard.engine, now, YEARLY, name="browser-capacity")
    soon = now.replace(second=0, microsecond=0) + timedelta(minutes=10)
    peak = soon + timedelta(minutes=20)
    # http runs are planned at 1,000 ms; an instance takes 9,000 ms a minute.
    rows = [{"scheduled_time": soon + timedelta(seconds=s)} for s in range(5)]  # 1 instance
    rows += [{"scheduled_time": peak + timedelta(seconds=s)} for s in range(20)]  # 3 instances
    with dashboard.engine.begin() as connection:
        connection.execute(
            insert(task_schedule), [{"task_id": task.id, "status": "Scheduled", **r} for r in rows]
        )

    open_page(page, dashboard, "capacity")

    headline = page.locator("[data-testid='stAlertContentError']")
    expect(headline).to_contain_text(f"Scale to 3 instances by {peak:%H:%M} UTC")
    expect(headline).to_contain_text(f"first short at {soon:%H:%M} UTC")
    legend = page.locator("[data-testid='stVegaLiteChart'] .role-legend")
    for line in ("required", "planned fleet", "worker slots now"):
        expect(legend).to_contain_text(line)


def test_a_dead_letter_replayed_from_the_page_then_succeeds(
    page: Page, dashboard: Dashboard, tmp_path: Path
) -> None:
    with running_sink() as sink:
        now = datetime.now(UTC)
        task = add_cron_task(
            dashboard.engine, now, YEARLY, name="browser-dead", payload={"url": f"{sink.url}/ok"}
        )
        with dashboard.engine.begin() as connection:
            row_id = connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task.id,
                    scheduled_time=now - timedelta(hours=1),
                    status="Dead",
                    attempt=3,
                    finished_at=now - timedelta(minutes=50),
                    last_error="HTTP 500 from the endpoint",
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
        env = {
            "HEADWAY_DATABASE_URL": dashboard.database_url,
            "HEADWAY_BROKER_URL": "memory://",
            "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
        }
        up = Headway(["up", "--no-api"], env, tmp_path, "up")
        try:
            wait_until_listed(page, dashboard, row_id)
            replay = page.get_by_role("button", name="Replay 1 selected…")
            pick(page, "Rows to replay or discard", f"row {row_id} (http)", replay)
            replay.click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text(f"Rows {row_id} go back to Scheduled")
            dialog.get_by_role("button", name="Replay", exact=True).click()
            expect(page.get_by_text("Replayed 1 dead letters.")).to_be_visible()

            def status() -> str:
                with dashboard.engine.connect() as connection:
                    query = select(task_schedule.c.status).where(task_schedule.c.id == row_id)
                    return str(connection.execute(query).scalar_one())

            wait_for(lambda: status() == "Succeeded", 60, "the replayed run to succeed")
            assert sink.count() == 1
        finally:
            assert up.terminate() == 0, up.log()


def test_a_dead_letter_discarded_from_the_page_asks_first_and_leaves_the_list(
    page: Page, dashboard: Dashboard
) -> None:
    now = datetime.now(UTC)
    task = add_cron_task(dashboard.engine, now, YEARLY, name="browser-discard")
    with dashboard.engine.begin() as connection:
        row_id = connection.execute(
            insert(task_schedule)
            .values(
                task_id=task.id,
                scheduled_time=now - timedelta(hours=2),
                status="Dead",
                attempt=3,
                finished_at=now - timedelta(minutes=90),
                last_error="HTTP 404 from the endpoint",
            )
            .returning(task_schedule.c.id)
        ).scalar_one()

    def discarded_at() -> datetime | None:
        with dashboard.engine.connect() as connection:
            query = select(task_schedule.c.discarded_at).where(task_schedule.c.id == row_id)
            at: datetime | None = connection.execute(query).scalar_one()
            return at

    wait_until_listed(page, dashboard, row_id)
    discard = page.get_by_role("button", name="Discard 1 selected…")
    pick(page, "Rows to replay or discard", f"row {row_id} (http)", discard)
    discard.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Rows {row_id} will not run again")
    assert discarded_at() is None  # nothing until confirmed
    dialog.get_by_role("button", name="Discard", exact=True).click()
    expect(page.get_by_text("Discarded 1 dead letters.")).to_be_visible()
    assert discarded_at() is not None
    settle(page)
    left = grid_rows(page) if page.locator("[data-testid='stDataFrame']").count() else []
    assert not any(r["row"] == str(row_id) for r in left)
    page.get_by_text("Show discarded").click()
    settle(page)
    expect(page.get_by_text("discarded dead letters, latest discarded first")).to_be_visible()
    assert any(r["row"] == str(row_id) for r in grid_rows(page))
