"""The REST API in-process on a fresh PostgreSQL database, with a clock tests can move."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, delete

from engine.adapters.database import create_db_engine
from engine.adapters.tables import tasks
from engine.api.app import create_app
from engine.settings import Settings

with warnings.catch_warnings():
    # Starlette asks for httpx2 in future; the client works the same with httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

API_NOW = datetime(2026, 6, 1, 10, 0, 30, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_app(
    engine: Engine | str, clock: Clock, broker_url: str = "memory://", token: str | None = None
) -> FastAPI:
    # Explicit settings, so a HEADWAY_API_TOKEN in the developer's shell changes nothing.
    settings = Settings(broker_url=broker_url, api_token=token)
    return create_app(engine, settings=settings, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock(API_NOW)


@pytest.fixture
def api(pg_engine: Engine, clock: Clock) -> Iterator[TestClient]:
    """A client of the API on this test's PostgreSQL database; server errors raise."""
    with TestClient(make_app(pg_engine, clock)) as client:
        yield client


@pytest.fixture(scope="module")
def shared_engine(pg_module_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_module_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_api(shared_engine: Engine) -> Iterator[TestClient]:
    """A client on a database shared by the module, at API_NOW: for requests that must not
    change anything (see `unchanged_api`)."""
    with TestClient(make_app(shared_engine, Clock(API_NOW))) as client:
        yield client


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def unchanged_api(
    shared_api: TestClient, shared_engine: Engine, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    """The shared client, for a test whose requests must all be refused: afterwards a
    passing test fails if a task was stored anyway, and any stored task is removed so the
    next test starts clean."""
    yield shared_api
    with shared_engine.begin() as connection:
        stored = connection.execute(delete(tasks)).rowcount
    if not request.node.stash.get(CALL_FAILED, False):
        assert stored == 0, f"{stored} task(s) stored by requests that should have been refused"
