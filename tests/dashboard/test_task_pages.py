"""Tasks and New task pages: what a user sees and what lands in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert

from engine.adapters.tables import task_runs, task_schedule
from engine.core.dependencies import DependencyTrigger
from engine.core.policies import MisfirePolicy, OverlapPolicy
from engine.core.types import TaskKind
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import Task, TaskAfter, create_task, get_task, list_tasks
from tests.dashboard.conftest import NOW, OpenDashboard, texts
from tests.integration.helpers import schedule_rows


def seed(engine: Engine) -> dict[str, Task]:
    specs = [
        TaskInput(
            name="nightly-report",
            task_type="http",
            kind=TaskKind.CRON,
            cron_expression="30 12 * * *",
            timezone="Europe/Berlin",
        ),
        TaskInput(name="welcome", task_type="notification", kind=TaskKind.IMMEDIATE),
        TaskInput(name="launch", task_type="reminder", kind=TaskKind.ONCE, run_at=NOW + timedelta(days=1)),
    ]
    tasks = {spec.name: create_task(engine, spec, NOW) for spec in specs}
    run_pass(engine, NOW)
    return tasks


def test_grid_shows_tasks_with_next_run(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    seed(db_engine)
    app = open_dashboard(db_url, "tasks")
    grid = app.dataframe[0].value
    assert sorted(grid["name"]) == ["launch", "nightly-report", "welcome"]
    by_name = grid.set_index("name")
    assert by_name.loc["nightly-report", "schedule"] == "30 12 * * * (Europe/Berlin)"
    # 12:30 in Berlin (CET, UTC+1) is 11:30 UTC.
    assert by_name.loc["nightly-report", "in words"] == "At 12:30"
    assert by_name.loc["nightly-report", "next run"] == "2026-03-02 11:30 UTC"
    assert by_name.loc["launch", "next run"] == "2026-03-03 10:00 UTC"
    # Empty cells read as empty: no run has finished, an immediate task has no words.
    assert by_name.loc["launch", "last outcome"] == "" and by_name.loc["welcome", "in words"] == ""
    assert any("3 tasks" in text for text in texts(app, "markdown"))


def test_filters_and_pages(open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine) -> None:
    seed(sqlite_engine)
    for index in range(30):
        create_task(
            sqlite_engine, TaskInput(name=f"bulk-{index}", task_type="http", kind=TaskKind.IMMEDIATE), NOW
        )
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.kind").set_value("cron").run()
    assert list(app.dataframe[0].value["name"]) == ["nightly-report"]
    app.selectbox(key="tasks.kind").set_value("any").run()
    app.text_input(key="tasks.name").set_value("BULK-2").run()
    assert sorted(app.dataframe[0].value["name"]) == ["bulk-2", *(f"bulk-{n}" for n in range(20, 30))]
    app.text_input(key="tasks.name").set_value("").run()
    assert len(app.dataframe[0].value) == 25
    app.number_input(key="tasks.page").set_value(2).run()
    assert len(app.dataframe[0].value) == 8
    assert "launch" in list(app.dataframe[0].value["name"])


def test_create_cron_task_through_the_form(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    app = open_dashboard(db_url, "new_task")
    app.text_input(key="new.name").set_value("standup-ping")
    app.selectbox(key="new.task_type").set_value("notification")
    app.radio(key="new.kind").set_value(TaskKind.CRON)
    app.text_input(key="new.cron_expression").set_value("*/15 9-17 * * mon-fri").run()
    preview = app.dataframe[0].value
    assert list(preview["UTC"]) == ["10:15 UTC", "10:30 UTC", "10:45 UTC", "11:00 UTC", "11:15 UTC"]
    app.button[0].click().run()
    assert not app.error, texts(app, "error")
    assert any("standup-ping" in text for text in texts(app, "success"))
    [task] = list_tasks(db_engine).items
    assert (task.name, task.task_type, task.kind, task.cron_expression, task.timezone) == (
        "standup-ping",
        "notification",
        TaskKind.CRON,
        "*/15 9-17 * * mon-fri",
        "UTC",
    )
    assert task.created_at == NOW
    assert app.text_input(key="new.name").value == ""


def test_bad_cron_is_a_form_error_naming_the_field_and_stores_nothing(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    app = open_dashboard(sqlite_url, "new_task")
    app.text_input(key="new.name").set_value("broken")
    app.text_input(key="new.cron_expression").set_value("61 * * * *").run()
    assert any("cron_expression" in text for text in texts(app, "caption"))
    app.button[0].click().run()
    errors = texts(app, "error")
    assert any("cron_expression" in text and "61 is out of range 0-59" in text for text in errors), errors
    assert not app.exception
    assert list_tasks(sqlite_engine).total == 0


def test_missing_fields_and_bad_payload_name_their_fields(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    app = open_dashboard(sqlite_url, "new_task")
    app.button[0].click().run()
    assert any("**name**" in text for text in texts(app, "error"))
    app.text_input(key="new.name").set_value("x")
    app.button[0].click().run()
    assert any("**cron_expression**" in text and "needs" in text for text in texts(app, "error"))
    app.text_input(key="new.cron_expression").set_value("@hourly")
    app.text_area(key="new.payload").set_value("[1, 2]").run()
    app.button[0].click().run()
    assert any("payload" in text for text in texts(app, "error"))
    assert list_tasks(sqlite_engine).total == 0


def test_scheduling_policies_through_the_form_with_a_bad_combination_named(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    app = open_dashboard(sqlite_url, "new_task")
    app.text_input(key="new.name").set_value("sync")
    app.text_input(key="new.cron_expression").set_value("*/5 * * * *")
    app.selectbox(key="new.overlap_policy").set_value(OverlapPolicy.SKIP)
    app.number_input(key="new.misfire_grace_s").set_value(30).run()
    app.button[0].click().run()
    # A grace means nothing while every missed fire time runs: refused on its field.
    errors = texts(app, "error")
    assert any("**misfire_grace_s**" in text and "run_latest or skip_missed" in text for text in errors)
    assert list_tasks(sqlite_engine).total == 0
    app.selectbox(key="new.misfire_policy").set_value(MisfirePolicy.RUN_LATEST)
    app.number_input(key="new.max_attempts").set_value(1).run()
    app.button[0].click().run()
    assert not app.error, texts(app, "error")
    [task] = list_tasks(sqlite_engine).items
    assert (task.overlap_policy, task.misfire_policy, task.misfire_grace_s, task.max_attempts) == (
        OverlapPolicy.SKIP,
        MisfirePolicy.RUN_LATEST,
        30,
        1,
    )
    assert task.timeout_s is None  # left empty: the task type's


def test_once_task_in_the_past_is_refused_by_the_service(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    app = open_dashboard(sqlite_url, "new_task")
    app.text_input(key="new.name").set_value("too-late")
    app.radio(key="new.kind").set_value(TaskKind.ONCE).run()
    app.date_input(key="new.run_at_date").set_value(NOW.date() - timedelta(days=1))
    app.button[0].click().run()
    assert any("run_at" in text for text in texts(app, "error"))
    assert list_tasks(sqlite_engine).total == 0


@pytest.fixture
def seeded(sqlite_engine: Engine) -> dict[str, Task]:
    return seed(sqlite_engine)


def test_set_inactive_removes_scheduled_runs(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine, seeded: dict[str, Task]
) -> None:
    report = seeded["nightly-report"]
    assert schedule_rows(sqlite_engine, report.id)
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.selected").set_value(report.id).run()
    app.button(key="tasks.deactivate").click().run()
    # It asks first: nothing changed until the dialog is confirmed.
    assert get_task(sqlite_engine, report.id).active is True
    assert any("stops running" in text for text in texts(app, "markdown"))
    app.button(key="tasks.deactivate.confirm").click().run()
    assert any("inactive" in text for text in texts(app, "success"))
    assert get_task(sqlite_engine, report.id).active is False
    assert schedule_rows(sqlite_engine, report.id) == []
    assert not app.dataframe[0].value.set_index("name").loc["nightly-report", "active"]
    assert app.button(key="tasks.deactivate").disabled


def test_edit_a_task(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine, seeded: dict[str, Task]
) -> None:
    report = seeded["nightly-report"]
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.selected").set_value(report.id).run()
    prefix = f"edit.{report.id}.{report.updated_at.timestamp()}"
    assert app.text_input(key=f"{prefix}.cron_expression").value == "30 12 * * *"
    app.text_input(key=f"{prefix}.cron_expression").set_value("bad")
    app.button(key="tasks.save").click().run()
    assert any("cron_expression" in text for text in texts(app, "error"))
    assert get_task(sqlite_engine, report.id).cron_expression == "30 12 * * *"
    app.text_input(key=f"{prefix}.cron_expression").set_value("0 6 * * *")
    app.text_input(key=f"{prefix}.name").set_value("morning-report")
    app.selectbox(key=f"{prefix}.overlap_policy").set_value(OverlapPolicy.QUEUE)
    app.button(key="tasks.save").click().run()
    assert any("Saved" in text for text in texts(app, "success"))
    edited = get_task(sqlite_engine, report.id)
    assert (edited.name, edited.cron_expression, edited.timezone, edited.overlap_policy) == (
        "morning-report",
        "0 6 * * *",
        "Europe/Berlin",
        OverlapPolicy.QUEUE,
    )
    assert "morning-report" in list(app.dataframe[0].value["name"])


def test_outdated_schema_says_how_to_fix_it(open_dashboard: OpenDashboard, tmp_path: object) -> None:
    app = open_dashboard(f"sqlite:///{tmp_path}/empty.db")
    errors = " ".join(texts(app, "error"))
    assert "no Headway schema" in errors
    assert any("headway db upgrade" in str(code.value) for code in app.code)
    assert not app.dataframe


def test_a_run_nobody_started_shows_as_overdue(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    seed(db_engine)
    app = open_dashboard(db_url, "tasks", now=NOW.replace(hour=12))
    by_name = app.dataframe[0].value.set_index("name")
    assert by_name.loc["nightly-report", "next run"] == "2026-03-02 11:30 UTC"
    assert by_name.loc["nightly-report", "due"] == "overdue 31 min"
    assert by_name.loc["launch", "due"] == "in 22 h"


def test_filter_by_last_outcome_and_a_tasks_run_history(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine, seeded: dict[str, Task]
) -> None:
    report = seeded["nightly-report"]
    with sqlite_engine.begin() as connection:
        schedule_id = connection.execute(
            insert(task_schedule)
            .values(task_id=report.id, scheduled_time=NOW - timedelta(days=1), status="Failed", attempt=1)
            .returning(task_schedule.c.id)
        ).scalar_one()
        connection.execute(
            insert(task_runs).values(
                schedule_id=schedule_id,
                scheduled_time=NOW - timedelta(days=1),
                task_id=report.id,
                task_type="http",
                attempt=1,
                started_at=NOW - timedelta(days=1),
                finished_at=NOW - timedelta(days=1) + timedelta(seconds=2),
                elapsed_ms=2_000,
                outcome="http_status",
                error="HTTP 503 from https://example.org",
            )
        )
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.outcome").set_value("failed").run()
    assert list(app.dataframe[0].value["name"]) == ["nightly-report"]
    app.selectbox(key="tasks.selected").set_value(report.id).run()
    history = app.dataframe[-1].value
    assert history.to_dict("records") == [
        {
            "attempt": 1,
            "status": "Failed",
            "outcome": "http_status",
            "started": "2026-03-01 10:00 UTC",
            "elapsed ms": "2,000",
            "error": "HTTP 503 from https://example.org",
        }
    ]
    app.selectbox(key="tasks.outcome").set_value("no run yet").run()
    assert sorted(app.dataframe[0].value["name"]) == ["launch", "welcome"]


def test_an_after_task_through_the_form_with_a_cycle_named_on_after(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine, seeded: dict[str, Task]
) -> None:
    report = seeded["nightly-report"]
    app = open_dashboard(sqlite_url, "new_task")
    app.text_input(key="new.name").set_value("publish")
    app.radio(key="new.kind").set_value(TaskKind.AFTER).run()
    app.number_input(key="new.after_task_id").set_value(report.id)
    app.selectbox(key="new.after_on").set_value(DependencyTrigger.FINISHED).run()
    app.button[0].click().run()
    assert not app.error, texts(app, "error")
    [publish] = [task for task in list_tasks(sqlite_engine).items if task.name == "publish"]
    assert (publish.kind, publish.after) == (TaskKind.AFTER, TaskAfter(report.id, DependencyTrigger.FINISHED))
    # The report after the publish task would close a cycle: refused on `after`, unchanged.
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.selected").set_value(report.id).run()
    prefix = f"edit.{report.id}.{report.updated_at.timestamp()}"
    app.radio(key=f"{prefix}.kind").set_value(TaskKind.AFTER).run()
    app.number_input(key=f"{prefix}.after_task_id").set_value(publish.id).run()
    app.button(key="tasks.save").click().run()
    assert any("**after**" in text and "cycle" in text for text in texts(app, "error"))
    assert get_task(sqlite_engine, report.id).kind is TaskKind.CRON


def test_an_inactive_upstream_is_shown_on_its_dependent(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine, seeded: dict[str, Task]
) -> None:
    report = seeded["nightly-report"]
    spec = TaskInput.model_validate(
        {"name": "publish", "task_type": "http", "kind": "after", "after": {"task_id": report.id}}
    )
    publish = create_task(sqlite_engine, spec, NOW)
    app = open_dashboard(sqlite_url, "tasks")
    app.selectbox(key="tasks.selected").set_value(report.id).run()
    app.button(key="tasks.deactivate").click().run()
    app.button(key="tasks.deactivate.confirm").click().run()
    assert any(f"dependent tasks {publish.id} are not triggered" in text for text in texts(app, "success"))
    assert f"Tasks after it: #{publish.id}" in texts(app, "caption")
    app.selectbox(key="tasks.selected").set_value(publish.id).run()
    assert any(f"upstream task {report.id} is inactive" in text for text in texts(app, "warning"))
    assert (
        app.dataframe[0].value.set_index("name").loc["publish", "schedule"] == f"after #{report.id} (success)"
    )
