"""`headway up`: Scheduler, Distributor and Processor in one process, on the in-process
broker by default, beside the services `headway up` adds (REST API, echo endpoint,
dashboard).

The in-process broker keeps nothing across a restart, so start-up first returns every row a
dead predecessor left `Queued`, `Running` or waiting for a retry to `Scheduled`
(`recover_in_flight`): nothing is lost, and a task that was running when the process died
runs again (at-least-once, same idempotency key). One `headway up` per database.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from engine.adapters.distribution_store import recover_in_flight
from engine.adapters.memory_broker import MemoryBroker
from engine.ports import Broker, Handler
from engine.process_configs import UpConfig
from engine.processes import scheduler
from engine.processes.distributor import Distributor
from engine.processes.processor import Processor
from engine.services.history import PruneStep

log = logging.getLogger("headway.up")


@dataclass(frozen=True, slots=True)
class Service:
    """A part that runs until `stop` is set (its `run` returns then)."""

    name: str
    run: Callable[[threading.Event], None]


def run_embedded(
    engine: Engine,
    broker: Broker,
    handlers: dict[str, Handler],
    config: UpConfig,
    stop: threading.Event,
    services: Sequence[Service] = (),
) -> list[str]:
    """Run the three processes and `services` until `stop`. A part that raises, or returns
    before `stop`, is logged and stops everything; returns the names of such parts (empty
    after a clean stop)."""
    if isinstance(broker, MemoryBroker):
        with engine.begin() as connection:
            recovered = recover_in_flight(connection, datetime.now(UTC))
        if recovered:
            log.warning("recovered %d rows left in flight by a previous run", recovered)
    parts = [
        Service(
            "scheduler",
            lambda event: scheduler.run_forever(
                engine,
                config.scheduler.interval_s,
                config.scheduler.forecast_hours,
                config.scheduler.window_hours,
                event,
                prune=PruneStep(engine, config.scheduler.retention_days),
            ),
        ),
        Service("distributor", Distributor(engine, broker, config.distributor).run),
        Service("processor", Processor(engine, broker, handlers, config.processor).run),
        *services,
    ]
    failed: list[str] = []
    threads = [
        threading.Thread(target=_guard(part, stop, failed), name=f"headway-{part.name}") for part in parts
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return failed


def _guard(part: Service, stop: threading.Event, failed: list[str]) -> Callable[[], None]:
    def run() -> None:
        try:
            part.run(stop)
        except BaseException:  # uvicorn ends a server that cannot start with SystemExit
            log.exception("%s stopped with an error; stopping everything", part.name)
            failed.append(part.name)
            stop.set()
            return
        if not stop.is_set():
            log.error("%s stopped on its own; stopping everything", part.name)
            failed.append(part.name)
            stop.set()

    return run


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (`host`, `port`), as a server binds it (SO_REUSEADDR, so a port in
    TIME_WAIT counts as free); OSError if the port is taken. Binding before anything starts
    lets `headway up` refuse a taken port at once, and hands uvicorn the very socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def uvicorn_service(name: str, app: Any, sock: socket.socket) -> Service:
    """`app` served on the bound `sock` until `stop`. Off the main thread uvicorn leaves
    signals alone: they belong to `headway up`, which stops every part together."""

    def run(stop: threading.Event) -> None:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))

        def exit_on_stop() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=exit_on_stop, name=f"headway-{name}-stop", daemon=True).start()
        server.run(sockets=[sock])

    return Service(name, run)
