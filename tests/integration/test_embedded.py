"""`headway up` in-process: everything on one SQLite file and the in-process broker, with a
service (here a small web app, as the REST API is served) beside the three processes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from engine.adapters.database import create_db_engine
from engine.adapters.handlers import HandlerSettings, load_handlers
from engine.adapters.memory_broker import MemoryBroker
from engine.core.outbound import parse_allowlist
from engine.process_configs import UpConfig, up_config
from engine.processes.embedded import Service, listening_socket, run_embedded, uvicorn_service
from engine.settings import Settings
from tests.acceptance.faults import wait_for
from tests.integration.helpers import add_tasks, status_counts
from tests.sink import running_sink

pytestmark = pytest.mark.integration


def _config(url: str) -> UpConfig:
    settings = Settings.model_construct(database_url=url, dashboard=False, demo=False)
    return up_config(settings, "d", "p", serve_api=False)


def test_up_schedules_runs_and_serves_its_services(sqlite_url: str) -> None:
    app = FastAPI()
    app.get("/health")(lambda: {"ok": True})
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    engine = create_db_engine(sqlite_url)
    stop = threading.Event()
    failed: list[str] = []
    with running_sink() as sink:
        add_tasks(engine, 5, datetime.now(UTC), {"url": f"{sink.url}/ok"})
        handlers = load_handlers(HandlerSettings(parse_allowlist("127.0.0.1")))
        services = [uvicorn_service("web", app, sock)]

        def run() -> None:
            failed.extend(run_embedded(engine, MemoryBroker(), handlers, _config(sqlite_url), stop, services))

        thread = threading.Thread(target=run)
        thread.start()
        try:
            wait_for(lambda: status_counts(engine) == {"Succeeded": 5}, 30, "the tasks to succeed")
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"ok": True}
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        finally:
            stop.set()
            thread.join(30)
    assert not thread.is_alive()
    assert failed == []
    assert set(sink.keys.values()) == {1} and len(sink.keys) == 5
    engine.dispose()


def test_a_part_that_fails_or_ends_on_its_own_stops_everything_and_is_named(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)

    def boom(stop: threading.Event) -> None:
        raise RuntimeError("boom")

    stop = threading.Event()
    failed = run_embedded(engine, MemoryBroker(), {}, _config(sqlite_url), stop, [Service("boom", boom)])
    assert failed == ["boom"] and stop.is_set()
    failed = run_embedded(
        engine, MemoryBroker(), {}, _config(sqlite_url), threading.Event(), [Service("quits", lambda _: None)]
    )
    assert failed == ["quits"]
    engine.dispose()
