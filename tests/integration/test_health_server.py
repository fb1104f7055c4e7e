"""The processes' health endpoint over HTTP on a local port, with a moved clock and
dependency checks the test sets; and the real database check against PostgreSQL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from engine.adapters.health_server import HealthServer, LoopProgress, database_check
from tests.acceptance.faults import free_port

pytestmark = pytest.mark.integration


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def problems() -> dict[str, str | None]:
    return {"database": None, "broker": None}


@pytest.fixture
def server(clock: FakeMonotonic, problems: dict[str, str | None]) -> Iterator[HealthServer]:
    checks = {name: (lambda name=name: problems[name]) for name in problems}
    server = HealthServer("processor", "127.0.0.1", 0, LoopProgress(clock), checks, stall_s=30).start()
    yield server
    server.close()


def get(server: HealthServer, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_endpoint_follows_the_loop_and_the_dependencies(
    server: HealthServer, clock: FakeMonotonic, problems: dict[str, str | None]
) -> None:
    assert get(server, "/livez")[0] == 200
    assert get(server, "/readyz") == (
        503,
        {"role": "processor", "status": "unavailable", "problems": ["loop: no successful loop yet"]},
    )
    server.progress(True)
    assert get(server, "/readyz") == (200, {"role": "processor", "status": "ok", "problems": []})
    problems["broker"] = "AMQPConnectionError"
    assert get(server, "/readyz")[1]["problems"] == ["broker: AMQPConnectionError"]
    assert get(server, "/livez")[0] == 200
    problems["broker"] = None
    clock.now += 20
    server.progress(False)  # a failed step: still live, the last success ages
    clock.now += 15
    status, body = get(server, "/readyz")
    assert (status, body["problems"]) == (503, ["loop: no successful loop for 35 s (limit 30 s)"])
    assert get(server, "/livez")[0] == 200
    clock.now += 16
    assert get(server, "/livez")[0] == 503
    assert get(server, "/nope")[0] == 404


def test_the_database_check_answers_for_a_live_database_and_names_a_refused_one(pg_url: str) -> None:
    assert database_check(pg_url)() is None
    refused = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
    assert database_check(refused)() == "OperationalError"


def test_the_scheduler_loop_tells_its_progress_after_each_pass(sqlite_url: str, pg_url: str) -> None:
    import threading

    from engine.adapters.database import create_db_engine
    from engine.processes.scheduler import run_forever

    for url, expected in ((sqlite_url, [True]), (pg_url.replace(":5432/", f":{free_port()}/"), [False])):
        engine = create_db_engine(url)
        stop = threading.Event()
        told: list[bool] = []

        def progress(ok: bool, told: list[bool] = told, stop: threading.Event = stop) -> None:
            told.append(ok)
            stop.set()

        run_forever(engine, 60, 3, stop=stop, progress=progress)
        engine.dispose()
        assert told == expected, url
