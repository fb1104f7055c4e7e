"""POST /task-types and PUT /task-types/{name} on SQLite and PostgreSQL: what a client creates
and replaces, and every refusal a 4xx naming the field, with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from engine.adapters.tables import task_types
from tests.handler_plugin import write_plugin_metadata
from tests.integration.conftest import Clock, make_app

pytestmark = pytest.mark.integration

INVOICE = {
    "name": "invoice",
    "description": "Posts the invoice run to billing",
    "handler": "http",
    "expected_duration_ms": 2_500,
    "timeout_ms": 60_000,
    "max_attempts": 5,
    "config": {"retry_base_ms": 2_000, "retry_max_ms": 60_000},
}


@pytest.fixture
def api(db_engine: Engine, clock: Clock) -> Iterator[TestClient]:
    with TestClient(make_app(db_engine, clock)) as client:
        yield client


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(task_types).order_by(task_types.c.name))]


def test_create_returns_201_with_the_type_and_its_location(api: TestClient) -> None:
    response = api.post("/task-types", json=INVOICE)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/task-types/invoice"
    assert response.json() == INVOICE
    assert api.get("/task-types/invoice").json() == INVOICE
    assert [row["name"] for row in api.get("/task-types").json()] == [
        "http",
        "invoice",
        "notification",
        "reminder",
    ]
    task = {"name": "monthly", "task_type": "invoice", "kind": "immediate"}
    assert api.post("/tasks", json=task).status_code == 201


def test_defaults_of_a_minimal_type(api: TestClient) -> None:
    body = {"name": "ping", "handler": "noop", "expected_duration_ms": 0, "timeout_ms": 1}
    created = api.post("/task-types", json=body).json()
    assert created == body | {"description": "", "max_attempts": 3, "config": {}}


def test_a_handler_registered_through_the_entry_point_is_accepted(
    api: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = INVOICE | {"handler": "billing_run"}
    refused = api.post("/task-types", json=body)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "handler"]
    monkeypatch.syspath_prepend(str(write_plugin_metadata(tmp_path, "billing_run")))
    assert api.post("/task-types", json=body).json()["handler"] == "billing_run"


def test_a_taken_name_is_a_409_and_changes_nothing(api: TestClient, db_engine: Engine) -> None:
    before = stored(db_engine)
    response = api.post("/task-types", json=INVOICE | {"name": "http"})
    assert response.status_code == 409
    assert response.json() == {"detail": "task type 'http' already exists"}
    assert stored(db_engine) == before


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"handler": "no_such_handler"}, ["body", "handler"], "no handler named 'no_such_handler'"),
        ({"handler": ""}, ["body", "handler"], "at least 1"),
        ({"name": "Invoice"}, ["body", "name"], "lower-case letter"),
        ({"name": "in voice"}, ["body", "name"], "lower-case letter"),
        ({"name": "x" * 65}, ["body", "name"], "lower-case letter"),
        ({"name": 7}, ["body", "name"], "string"),
        ({"expected_duration_ms": -1}, ["body", "expected_duration_ms"], "greater than or equal to 0"),
        ({"expected_duration_ms": "5"}, ["body", "expected_duration_ms"], "integer"),
        ({"timeout_ms": -10}, ["body", "timeout_ms"], "greater than or equal to 1"),
        ({"timeout_ms": 2**31}, ["body", "timeout_ms"], "less than or equal to"),
        ({"max_attempts": 0}, ["body", "max_attempts"], "greater than or equal to 1"),
        ({"config": {"retry_base_ms": -1}}, ["body", "config"], "retry_base_ms must be a whole number"),
        ({"config": {"retry_max_ms": 1.5}}, ["body", "config"], "retry_max_ms must be a whole number"),
        ({"config": {"url": 3}}, ["body", "config"], "url must be non-empty text"),
        ({"config": []}, ["body", "config"], "dictionary"),
        ({"description": "a\u0000b"}, ["body", "description"], "NUL"),
        ({"colour": "red"}, ["body", "colour"], "Extra inputs"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    api: TestClient, db_engine: Engine, change: dict[str, Any], loc: list[str], words: str
) -> None:
    before = stored(db_engine)
    response = api.post("/task-types", json=INVOICE | change)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc, detail
    assert words in detail[0]["msg"], detail
    assert stored(db_engine) == before


def test_put_replaces_the_definition_and_keeps_the_name(api: TestClient) -> None:
    api.post("/task-types", json=INVOICE)
    body = {"handler": "noop", "expected_duration_ms": 10, "timeout_ms": 500}
    response = api.put("/task-types/invoice", json=body)
    assert response.status_code == 200, response.text
    expected = {"name": "invoice", "description": "", "max_attempts": 3, "config": {}} | body
    assert response.json() == expected
    assert api.get("/task-types/invoice").json() == expected


def test_put_of_a_seeded_type_changes_what_its_runs_get(api: TestClient) -> None:
    body = {
        "description": "with an endpoint",
        "handler": "reminder",
        "expected_duration_ms": 300,
        "timeout_ms": 5_000,
        "config": {"url": "http://127.0.0.1:9/remind"},
    }
    assert api.put("/task-types/reminder", json=body).json()["config"] == {"url": "http://127.0.0.1:9/remind"}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (
            "/task-types/nothing",
            {"handler": "http", "expected_duration_ms": 1, "timeout_ms": 1},
            404,
            "not found",
        ),
        (
            "/task-types/Bad%20Name",
            {"handler": "http", "expected_duration_ms": 1, "timeout_ms": 1},
            422,
            "name",
        ),
        ("/task-types/http", {"handler": "nope", "expected_duration_ms": 1, "timeout_ms": 1}, 422, "handler"),
        (
            "/task-types/http",
            {"handler": "http", "expected_duration_ms": -1, "timeout_ms": 1},
            422,
            "expected",
        ),
        ("/task-types/http", {"handler": "http", "expected_duration_ms": 1}, 422, "timeout_ms"),
        (
            "/task-types/http",
            {"name": "other", "handler": "http", "expected_duration_ms": 1, "timeout_ms": 1},
            422,
            "name",
        ),
    ],
)
def test_put_refusals_change_nothing(
    api: TestClient, db_engine: Engine, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    before = stored(db_engine)
    response = api.put(path, json=body)
    assert response.status_code == status, response.text
    assert words in response.text
    assert stored(db_engine) == before


def test_get_of_an_unknown_type_is_a_404(api: TestClient) -> None:
    response = api.get("/task-types/nothing")
    assert (response.status_code, response.json()) == (404, {"detail": "task type 'nothing' not found"})
