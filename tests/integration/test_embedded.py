"""`headway up` in-process: everything on one SQLite file and the in-process broker, with
the REST API served when the build has one."""

from __future__ import annotations

import sys
import threading
import time
import types
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from engine.adapters.database import create_db_engine
from engine.adapters.handlers import HandlerSettings, load_handlers
from engine.adapters.memory_broker import MemoryBroker
from engine.core.outbound import parse_allowlist
from engine.processes.distributor import DistributorConfig
from engine.processes.embedded import ApiConfig, SchedulerConfig, run_embedded
from engine.processes.processor import ProcessorConfig
from tests.acceptance.faults import free_port, wait_for
from tests.integration.helpers import add_tasks, status_counts
from tests.sink import running_sink

pytestmark = pytest.mark.integration


def test_up_schedules_runs_and_serves_the_api(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = types.ModuleType("engine.api.app")
    seen: dict[str, object] = {}

    def create_app(database: str, broker_url: str) -> FastAPI:
        seen.update(database=database, broker_url=broker_url)
        app = FastAPI()
        app.get("/health")(lambda: {"ok": True})
        return app

    fake.create_app = create_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.api.app", fake)
    engine = create_db_engine(sqlite_url)
    port = free_port()
    stop = threading.Event()
    with running_sink() as sink:
        add_tasks(engine, 5, datetime.now(UTC), {"url": f"{sink.url}/ok"})
        handlers = load_handlers(HandlerSettings(parse_allowlist("127.0.0.1")))
        thread = threading.Thread(
            target=run_embedded,
            args=(
                engine,
                MemoryBroker(),
                handlers,
                SchedulerConfig(),
                DistributorConfig("d"),
                ProcessorConfig("p"),
                ApiConfig("127.0.0.1", port, sqlite_url, "memory://"),
                stop,
            ),
        )
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
    assert seen == {"database": sqlite_url, "broker_url": "memory://"}
    assert set(sink.keys.values()) == {1} and len(sink.keys) == 5
    engine.dispose()
