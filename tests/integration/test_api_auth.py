"""With HEADWAY_API_TOKEN set, everything but /health needs `Authorization: Bearer <token>`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.integration.conftest import API_NOW, Clock, make_app

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
EVERY_ENDPOINT = [
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", "/tasks/1"),
    ("PUT", "/tasks/1"),
    ("PUT", "/tasks/1/inactive"),
    ("POST", "/tasks/1/run"),
    ("GET", "/tasks/1/runs"),
    ("GET", "/task-types"),
    ("POST", "/task-types"),
    ("GET", "/task-types/http"),
    ("PUT", "/task-types/http"),
    ("GET", "/scheduled-tasks-summary"),
    ("GET", "/task-summary"),
    ("GET", "/forecast"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/no-such-path"),
]


@pytest.fixture
def secured(shared_engine: Engine) -> Iterator[TestClient]:
    with TestClient(make_app(shared_engine, Clock(API_NOW), token=TOKEN)) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "longer", "basic", "no-scheme", "empty"],
)
def test_every_endpoint_but_health_needs_the_token(
    secured: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    # The body is not JSON: an anonymous caller gets 401 before anything is parsed.
    response = secured.request(method, path, headers=headers, content=b"{not json")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing or wrong bearer token"}


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
def test_the_right_token_is_let_through(secured: TestClient, method: str, path: str) -> None:
    response = secured.request(method, path, headers=GOOD)
    assert response.status_code not in (401, 403, 500)


def test_scheme_name_is_case_insensitive(secured: TestClient) -> None:
    assert secured.get("/tasks", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_health_is_open(secured: TestClient) -> None:
    assert secured.get("/health").status_code == 200


def test_openapi_declares_the_bearer_scheme(secured: TestClient) -> None:
    document = secured.get("/openapi.json", headers=GOOD).json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/tasks"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "401" in document["paths"]["/tasks"]["get"]["responses"]
    assert "security" not in document["paths"]["/health"]["get"]


def test_a_created_task_is_readable_with_the_token(secured: TestClient, shared_engine: Engine) -> None:
    body = {"name": "x", "task_type": "http", "kind": "immediate"}
    created = secured.post("/tasks", json=body, headers=GOOD)
    assert created.status_code == 201
    assert secured.get(f"/tasks/{created.json()['id']}", headers=GOOD).json()["name"] == "x"
