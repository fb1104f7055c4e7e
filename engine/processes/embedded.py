"""`headway up`: Scheduler, Distributor, Processor and the REST API in one process, on the
in-process broker by default.

The in-process broker keeps nothing across a restart, so start-up first returns every row a
dead predecessor left `Queued`, `Running` or waiting for a retry to `Scheduled`
(`recover_in_flight`): nothing is lost, and a task that was running when the process died
runs again (at-least-once, same idempotency key). One `headway up` per database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from engine.adapters.distribution_store import recover_in_flight
from engine.adapters.memory_broker import MemoryBroker
from engine.ports import Broker, Handler
from engine.processes import scheduler
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig

log = logging.getLogger("headway.up")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    interval_s: float = 60.0
    forecast_hours: float = 3.0
    window_hours: float | None = None


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    broker_url: str = ""


def run_embedded(
    engine: Engine,
    broker: Broker,
    handlers: dict[str, Handler],
    scheduler_config: SchedulerConfig,
    distributor_config: DistributorConfig,
    processor_config: ProcessorConfig,
    api: ApiConfig | None,
    stop: threading.Event,
) -> None:
    """Run everything until `stop`; a process that fails is logged and the others go on."""
    if isinstance(broker, MemoryBroker):
        with engine.begin() as connection:
            recovered = recover_in_flight(connection, datetime.now(UTC))
        if recovered:
            log.warning("recovered %d rows left in flight by a previous run", recovered)
    workers: list[tuple[str, Callable[[], None]]] = [
        (
            "scheduler",
            lambda: scheduler.run_forever(
                engine,
                scheduler_config.interval_s,
                scheduler_config.forecast_hours,
                scheduler_config.window_hours,
                stop,
            ),
        ),
        ("distributor", lambda: Distributor(engine, broker, distributor_config).run(stop)),
        ("processor", lambda: Processor(engine, broker, handlers, processor_config).run(stop)),
    ]
    server = _api_server(api) if api is not None else None
    if server is not None:
        workers.append(("api", server.run))
    threads = [
        threading.Thread(target=_guard(name, work, stop), name=f"headway-{name}") for name, work in workers
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    if server is not None:
        server.should_exit = True
    for thread in threads:
        thread.join()


def _guard(name: str, work: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("%s stopped with an error; stopping everything", name)
            stop.set()

    return run


def _api_server(api: ApiConfig) -> Any:
    """A uvicorn server for the REST API; its token, if any, comes from HEADWAY_API_TOKEN."""
    import uvicorn

    from engine.api.app import create_app

    app = create_app(database=api.database_url, broker_url=api.broker_url)
    # Off the main thread uvicorn leaves signals alone: they belong to `headway up`, which
    # stops every part together through `should_exit`.
    server = uvicorn.Server(uvicorn.Config(app, host=api.host, port=api.port, log_level="warning"))
    log.info("REST API on http://%s:%d", api.host, api.port)
    return server
