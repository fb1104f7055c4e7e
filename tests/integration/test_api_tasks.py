"""The /tasks endpoints on PostgreSQL: what a client creates, reads, edits, stops and runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, update

from engine.adapters.tables import task_runs, task_schedule
from engine.processes.scheduler import run_pass
from tests.integration.conftest import API_NOW, Clock
from tests.integration.helpers import schedule_rows

pytestmark = pytest.mark.integration


def cron_body(**overrides: Any) -> dict[str, Any]:
    body = {"name": "report", "task_type": "http", "kind": "cron", "cron_expression": "*/15 * * * *"}
    return body | overrides


def create(api: TestClient, **body: Any) -> dict[str, Any]:
    response = api.post("/tasks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_returns_201_with_the_task_and_its_location(api: TestClient) -> None:
    response = api.post("/tasks", json=cron_body(payload={"url": "https://example.org", "retries": [1, 2]}))
    assert response.status_code == 201
    task = response.json()
    assert response.headers["location"] == f"/tasks/{task['id']}"
    assert task | {"id": 0} == {
        "id": 0,
        "name": "report",
        "task_type": "http",
        "kind": "cron",
        "cron_expression": "*/15 * * * *",
        "timezone": "UTC",  # the default for cron
        "run_at": None,
        "payload": {"url": "https://example.org", "retries": [1, 2]},
        "active": True,
        "created_at": "2026-06-01T10:00:30Z",
        "updated_at": "2026-06-01T10:00:30Z",
        "next_run": "2026-06-01T10:15:00Z",  # from the expression: no schedule row yet
        "last_run_status": None,
        "last_run_at": None,
        # Today's behaviour unless asked otherwise (engine.core.policies).
        "overlap_policy": "allow",
        "misfire_policy": "run_all",
        "misfire_grace_s": None,
        # The task type's timeout and attempt budget.
        "timeout_s": None,
        "max_attempts": None,
        "ordering_key": None,
        "after": None,
        "warnings": [],
        "dependents": [],
    }
    assert api.get(f"/tasks/{task['id']}").json() | {"next_runs": None} == task | {"next_runs": None}


def test_once_and_immediate_tasks_and_run_at_is_returned_in_utc(api: TestClient) -> None:
    once = create(api, name="launch", task_type="reminder", kind="once", run_at="2026-06-02T09:00:00+02:00")
    assert once["run_at"] == "2026-06-02T07:00:00Z"
    assert create(api, name="welcome", task_type="notification", kind="immediate")["active"] is True
    inactive = create(api, name="later", task_type="notification", kind="immediate", active=False)
    assert inactive["active"] is False


def test_strings_and_payload_are_stored_literally(api: TestClient) -> None:
    name = "  <b>Report</b> & 'quotes' \"double\" \\ % _ \t ünïcödé 😀  "
    payload = {"s": "  spaced  ", "nested": {"list": [None, True, 1.5, -0.0, 2**70]}, "": "empty key"}
    task = create(api, name=name, task_type="http", kind="immediate", payload=payload)
    fetched = api.get(f"/tasks/{task['id']}").json()
    assert fetched["name"] == name
    assert fetched["payload"] == payload


def test_next_runs_of_a_cron_task_are_the_next_five_fire_times_in_utc(api: TestClient) -> None:
    task = create(api, **cron_body(cron_expression="30 2 * * *", timezone="Europe/Berlin"))
    detail = api.get(f"/tasks/{task['id']}").json()
    # 02:30 CEST is 00:30 UTC; the first is tomorrow, since today's has passed at 10:00 UTC.
    assert detail["next_runs"] == [f"2026-06-0{day}T00:30:00Z" for day in range(2, 7)]


def test_next_runs_of_once_and_immediate_tasks(api: TestClient, pg_engine: Engine, clock: Clock) -> None:
    once = create(api, name="o", task_type="reminder", kind="once", run_at="2026-06-01T12:00:00Z")
    now_task = create(api, name="n", task_type="reminder", kind="immediate")
    assert api.get(f"/tasks/{once['id']}").json()["next_runs"] == ["2026-06-01T12:00:00Z"]
    assert api.get(f"/tasks/{now_task['id']}").json()["next_runs"] == []  # no row yet
    run_pass(pg_engine, clock.now)
    assert api.get(f"/tasks/{now_task['id']}").json()["next_runs"] == ["2026-06-01T10:00:30Z"]
    clock.advance(hours=3)
    assert api.get(f"/tasks/{once['id']}").json()["next_runs"] == []  # its time has passed


def test_update_replaces_the_definition_and_drops_only_scheduled_rows(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    task = create(api, **cron_body())
    run_pass(pg_engine, clock.now)
    first_row = schedule_rows(pg_engine, task["id"])[0]
    with pg_engine.begin() as connection:
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task["id"], task_schedule.c.scheduled_time == first_row[1])
            .values(status="Succeeded")
        )
    clock.advance(minutes=1)

    response = api.put(f"/tasks/{task['id']}", json=cron_body(name="hourly", cron_expression="0 * * * *"))

    assert response.status_code == 200
    updated = response.json()
    assert (updated["name"], updated["cron_expression"]) == ("hourly", "0 * * * *")
    assert updated["updated_at"] == "2026-06-01T10:01:30Z"
    assert updated["created_at"] == task["created_at"]
    # History stays; the Scheduled rows are gone until the Scheduler's next pass.
    assert [(row[1], row[2]) for row in schedule_rows(pg_engine, task["id"])] == [(first_row[1], "Succeeded")]
    run_pass(pg_engine, clock.now)
    scheduled = [row[1] for row in schedule_rows(pg_engine, task["id"]) if row[2] == "Scheduled"]
    assert scheduled and all(time.minute == 0 for time in scheduled)


def test_update_can_change_the_kind(api: TestClient) -> None:
    task = create(api, **cron_body())
    # A month after the API's frozen clock, at midnight: in the future whatever today is.
    run_at = f"{API_NOW + timedelta(days=30):%Y-%m-%d}T00:00:00Z"
    body = {"name": "once now", "task_type": "reminder", "kind": "once", "run_at": run_at}
    updated = api.put(f"/tasks/{task['id']}", json=body).json()
    assert (updated["kind"], updated["cron_expression"], updated["timezone"]) == ("once", None, None)
    assert updated["run_at"] == run_at


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task_type": "no-such-type"}, "task_type"),
        ({"cron_expression": "61 * * * *"}, "cron_expression"),
        ({"kind": "once", "cron_expression": None, "run_at": "2020-01-01T00:00:00Z"}, "run_at"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_refused_update_changes_nothing(
    api: TestClient, pg_engine: Engine, clock: Clock, change: dict[str, Any], field: str
) -> None:
    task = create(api, **cron_body())
    run_pass(pg_engine, clock.now)
    rows_before = schedule_rows(pg_engine, task["id"])

    response = api.put(f"/tasks/{task['id']}", json=cron_body(name="renamed", **change))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert api.get(f"/tasks/{task['id']}").json()["name"] == "report"
    assert schedule_rows(pg_engine, task["id"]) == rows_before


def test_inactive_stops_the_task_and_removes_its_scheduled_rows(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    task = create(api, **cron_body())
    run_pass(pg_engine, clock.now)
    assert schedule_rows(pg_engine, task["id"])

    response = api.put(f"/tasks/{task['id']}/inactive")

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert schedule_rows(pg_engine, task["id"]) == []
    assert run_pass(pg_engine, clock.now).rows_inserted == 0
    assert api.get(f"/tasks/{task['id']}").json()["next_runs"] == []
    assert api.put(f"/tasks/{task['id']}/inactive").status_code == 200  # idempotent


def test_run_now_adds_a_scheduled_row_at_now(api: TestClient, pg_engine: Engine) -> None:
    task = create(api, **cron_body())
    response = api.post(f"/tasks/{task['id']}/run")
    assert response.status_code == 201
    assert response.json() | {"schedule_id": 0} == {
        "schedule_id": 0,
        "task_id": task["id"],
        "scheduled_time": "2026-06-01T10:00:30Z",
    }
    assert schedule_rows(pg_engine, task["id"]) == [(task["id"], API_NOW, "Scheduled")]
    api.put(f"/tasks/{task['id']}/inactive")
    refused = api.post(f"/tasks/{task['id']}/run")
    assert refused.status_code == 409
    assert "inactive" in refused.json()["detail"]


def test_runs_are_listed_newest_first_and_paginated(api: TestClient, pg_engine: Engine) -> None:
    task = create(api, **cron_body())
    other = create(api, **cron_body(name="other"))
    started = [API_NOW - timedelta(minutes=minutes) for minutes in (30, 20, 10)]
    with pg_engine.begin() as connection:
        for attempt, start in enumerate(started, start=1):
            connection.execute(
                insert(task_runs).values(
                    task_id=task["id"],
                    task_type="http",
                    attempt=attempt,
                    started_at=start,
                    finished_at=start + timedelta(seconds=2) if attempt < 3 else None,
                    elapsed_ms=2_000 if attempt < 3 else None,
                    outcome={1: "failed", 2: "succeeded", 3: None}[attempt],
                    output_excerpt=f"output {attempt}",
                    error="HTTP 503" if attempt == 1 else None,
                )
            )
        connection.execute(
            insert(task_runs).values(task_id=other["id"], task_type="http", attempt=1, started_at=API_NOW)
        )

    page = api.get(f"/tasks/{task['id']}/runs", params={"limit": 2}).json()

    assert page["total"] == 3
    assert [(run["attempt"], run["status"], run["outcome"]) for run in page["items"]] == [
        (3, "Running", None),
        (2, "Succeeded", "succeeded"),
    ]
    first = api.get(f"/tasks/{task['id']}/runs", params={"limit": 2, "offset": 2}).json()["items"]
    assert [(run["attempt"], run["status"], run["outcome"]) for run in first] == [(1, "Failed", "failed")]
    assert page["items"][1] | {"id": 0} == {
        "id": 0,
        "schedule_id": None,
        "attempt": 2,
        "status": "Succeeded",
        "outcome": "succeeded",
        "started_at": "2026-06-01T09:40:30Z",
        "finished_at": "2026-06-01T09:40:32Z",
        "elapsed_ms": 2000,
        "output_excerpt": "output 2",
        "error": None,
    }
    rest = api.get(f"/tasks/{task['id']}/runs", params={"limit": 2, "offset": 2}).json()
    assert [(run["attempt"], run["error"]) for run in rest["items"]] == [(1, "HTTP 503")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks/{id}"),
        ("PUT", "/tasks/{id}"),
        ("PUT", "/tasks/{id}/inactive"),
        ("POST", "/tasks/{id}/run"),
        ("GET", "/tasks/{id}/runs"),
    ],
)
def test_unknown_ids_get_404(api: TestClient, method: str, path: str) -> None:
    body = cron_body() if path == "/tasks/{id}" and method == "PUT" else None
    response = api.request(method, path.format(id=424242), json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "task 424242 not found"}


def test_list_pages_newest_first_with_next_run_and_last_outcome(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    ids = [create(api, **cron_body(name=f"task {index}"))["id"] for index in range(5)]
    run_pass(pg_engine, clock.now)
    with pg_engine.begin() as connection:
        connection.execute(
            insert(task_schedule).values(
                task_id=ids[-1],
                scheduled_time=API_NOW - timedelta(minutes=15),
                status="Failed",
                attempt=3,
                finished_at=API_NOW - timedelta(minutes=14),
            )
        )

    page = api.get("/tasks", params={"limit": 2}).json()

    assert page["total"] == 5
    assert [item["id"] for item in page["items"]] == [ids[4], ids[3]]
    newest = page["items"][0]
    assert newest["next_run"] == "2026-06-01T10:15:00Z"
    assert (newest["last_run_status"], newest["last_run_at"]) == ("Failed", "2026-06-01T09:46:30Z")
    assert page["items"][1]["last_run_status"] is None
    second = api.get("/tasks", params={"limit": 2, "offset": 2}).json()
    assert [item["id"] for item in second["items"]] == [ids[2], ids[1]]
    assert api.get("/tasks", params={"offset": 10}).json() == {"items": [], "total": 5}
    assert len(api.get("/tasks").json()["items"]) == 5  # default limit 50
    assert api.get("/tasks", params={"limit": 500}).status_code == 200


def test_list_filters_combine(api: TestClient) -> None:
    create(api, **cron_body(name="Nightly REPORT"))
    create(api, **cron_body(name="weekly report", task_type="reminder"))
    create(api, **cron_body(name="report, stopped", active=False))
    create(api, name="report now", task_type="http", kind="immediate")
    create(api, name="100% sure_thing", task_type="http", kind="immediate")
    create(api, name="path a/b\\c", task_type="notification", kind="immediate")

    def names(**params: Any) -> list[str]:
        page = api.get("/tasks", params=params).json()
        assert page["total"] == len(page["items"])
        return sorted(item["name"] for item in page["items"])

    assert names(task_type="http", kind="cron", active="true", q="report") == ["Nightly REPORT"]
    assert names(q="REPORT", kind="cron") == ["Nightly REPORT", "report, stopped", "weekly report"]
    assert names(active="false") == ["report, stopped"]
    assert names(task_type="reminder") == ["weekly report"]
    assert names(kind="immediate", task_type="http") == ["100% sure_thing", "report now"]
    # q is literal: % and _ are characters, not wildcards.
    assert names(q="0% s") == ["100% sure_thing"]
    assert names(q="%") == ["100% sure_thing"]
    assert names(q="1_0") == []
    assert names(q="e_t") == ["100% sure_thing"]
    assert names(q="a/b\\") == ["path a/b\\c"]  # the escape characters themselves
    assert names(q="/") == ["path a/b\\c"]
    assert names(task_type="no-such-type") == []


def test_list_of_an_empty_database(api: TestClient) -> None:
    assert api.get("/tasks").json() == {"items": [], "total": 0}


def test_api_factory_takes_a_database_url(pg_url: str, clock: Clock) -> None:
    from tests.integration.conftest import make_app

    with TestClient(make_app(pg_url, clock)) as client:
        created = client.post("/tasks", json=cron_body())
        assert created.status_code == 201
        assert client.get("/tasks").json()["total"] == 1


def test_times_are_utc_iso_8601(api: TestClient) -> None:
    task = create(api, name="o", task_type="reminder", kind="once", run_at="2026-06-01T23:30:00-05:00")
    assert datetime.fromisoformat(task["run_at"]) == datetime(2026, 6, 2, 4, 30, tzinfo=UTC)
    assert task["run_at"].endswith("Z")


def test_a_body_near_the_size_limit_is_accepted_when_its_payload_fits(api: TestClient) -> None:
    assert api.post("/tasks", json=cron_body(payload={"blob": "x" * 200_000})).status_code == 201


def test_scheduling_policies_are_created_returned_and_replaced(api: TestClient) -> None:
    policies = {
        "overlap_policy": "skip",
        "misfire_policy": "skip_missed",
        "misfire_grace_s": 120,
        "timeout_s": 5,
        "max_attempts": 1,
    }
    keyed = create(api, **cron_body(name="keyed", ordering_key="nightly"))
    assert keyed["ordering_key"] == "nightly"
    task = create(api, **cron_body(**policies))
    assert {key: task[key] for key in policies} == policies
    replaced = api.put(f"/tasks/{task['id']}", json=cron_body(overlap_policy="queue"))
    assert replaced.status_code == 200, replaced.text
    # PUT replaces the whole definition: what is not given takes its default.
    assert {key: replaced.json()[key] for key in policies} == {
        "overlap_policy": "queue",
        "misfire_policy": "run_all",
        "misfire_grace_s": None,
        "timeout_s": None,
        "max_attempts": None,
    }


def test_an_ordering_key_combines_with_overlap_and_misfire_policies(api: TestClient) -> None:
    policies = {
        "ordering_key": "nightly",
        "overlap_policy": "skip",
        "misfire_policy": "run_latest",
        "misfire_grace_s": 120,
    }
    task = create(api, **cron_body(**policies))
    assert {key: task[key] for key in policies} == policies
    assert {key: api.get(f"/tasks/{task['id']}").json()[key] for key in policies} == policies
    replaced = api.put(
        f"/tasks/{task['id']}", json=cron_body(ordering_key="nightly", misfire_policy="skip_missed")
    )
    assert replaced.status_code == 200, replaced.text
    assert {key: replaced.json()[key] for key in policies} == policies | {
        "overlap_policy": "allow",
        "misfire_policy": "skip_missed",
        "misfire_grace_s": None,
    }


def test_an_after_task_names_its_upstream_and_cycles_get_422_naming_after(api: TestClient) -> None:
    upstream = create(api, **cron_body(name="extract"))
    load = create(api, name="load", task_type="http", kind="after", after={"task_id": upstream["id"]})
    assert (load["kind"], load["after"], load["cron_expression"]) == (
        "after",
        {"task_id": upstream["id"], "on": "success"},  # the default trigger
        None,
    )
    detail = api.get(f"/tasks/{load['id']}").json()
    assert (detail["next_run"], detail["next_runs"], detail["warnings"]) == (None, [], [])
    assert api.get(f"/tasks/{upstream['id']}").json()["dependents"] == [load["id"]]
    report = create(
        api, name="report", task_type="http", kind="after", after={"task_id": load["id"], "on": "finished"}
    )
    cycle = api.put(
        f"/tasks/{upstream['id']}",
        json={"name": "extract", "task_type": "http", "kind": "after", "after": {"task_id": report["id"]}},
    )
    assert cycle.status_code == 422, cycle.text
    [problem] = cycle.json()["detail"]
    assert problem["loc"] == ["body", "after"]
    assert f"{upstream['id']} -> {report['id']} -> {load['id']} -> {upstream['id']}" in problem["msg"]
    itself = api.put(f"/tasks/{load['id']}", json={**load_body(load["id"]), "name": "load"})
    assert itself.status_code == 422 and itself.json()["detail"][0]["loc"] == ["body", "after"]


def load_body(upstream: int) -> dict[str, Any]:
    return {
        "name": "x",
        "task_type": "http",
        "kind": "after",
        "after": {"task_id": upstream, "on": "success"},
    }


def test_inactive_upstreams_and_their_active_dependents_are_reported(api: TestClient) -> None:
    upstream = create(api, **cron_body(name="extract"))
    load = create(api, **load_body(upstream["id"]))
    stopped = api.put(f"/tasks/{upstream['id']}/inactive")
    assert stopped.json()["warnings"] == [
        f"task is inactive: its active dependent tasks {load['id']} are not triggered"
    ]
    assert api.get(f"/tasks/{load['id']}").json()["warnings"] == [
        f"upstream task {upstream['id']} is inactive: this task is not triggered"
    ]
