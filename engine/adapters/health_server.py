"""A small HTTP health endpoint for the long-running processes (scheduler, distributor,
processor): `GET /livez` and `GET /readyz`, 200 or 503 with a JSON body naming the problems.

The process's loop reports each step through a `LoopProgress` it is handed (a callable
taking `ok`); the probe itself checks the dependencies on every request, through connections
of its own, so an answer is about now and a probe never takes a connection the loop needs.
The decision is `engine.core.readiness`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from engine.core.readiness import LoopStamps, Verdict, liveness, readiness

log = logging.getLogger("headway.health")

# A probe must answer within an orchestrator's timeout (Kubernetes: 1 s by default, 3 s in
# deploy/kubernetes), so each dependency check is bounded well below it.
CHECK_TIMEOUT_S = 2.0

DependencyCheck = Callable[[], "str | None"]


class LoopProgress:
    """Progress stamps of one loop: call it with `ok=True` after a step that did its work,
    `ok=False` after one that failed. Thread-safe; `clock` gives monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps = LoopStamps(started_s=clock())

    def __call__(self, ok: bool) -> None:
        now = self._clock()
        with self._lock:
            self._stamps = LoopStamps(self._stamps.started_s, now, now if ok else self._stamps.succeeded_s)

    def stamps(self) -> LoopStamps:
        with self._lock:
            return self._stamps

    def now(self) -> float:
        return self._clock()


class HealthServer:
    """Serves `/livez` and `/readyz` for `role` on `address:port` (0: any free port, see
    `port`) in a daemon thread, until `close()`."""

    def __init__(
        self,
        role: str,
        address: str,
        port: int,
        progress: LoopProgress,
        checks: dict[str, DependencyCheck],
        stall_s: float,
    ) -> None:
        self.role = role
        self.progress = progress
        self._checks = checks
        self._stall_s = stall_s
        self._server = ThreadingHTTPServer((address, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="headway-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("%s health endpoint on port %d (/livez, /readyz)", self.role, self.port)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def live(self) -> Verdict:
        return liveness(self.progress.stamps(), self.progress.now(), self._stall_s)

    def ready(self) -> Verdict:
        stamps = self.progress.stamps()  # before the checks, which take time
        problems = {name: check() for name, check in self._checks.items()}
        return readiness(
            stamps,
            self.progress.now(),
            self._stall_s,
            database_problem=problems.get("database"),
            broker_problem=problems.get("broker"),
        )


def _handler_for(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            probes = {"/livez": server.live, "/readyz": server.ready}
            probe = probes.get(self.path.split("?", 1)[0])
            if probe is None:
                self._reply(404, {"detail": "not found; try /livez or /readyz"})
                return
            verdict = probe()
            body = {
                "role": server.role,
                "status": "ok" if verdict.ok else "unavailable",
                "problems": list(verdict.problems),
            }
            self._reply(200 if verdict.ok else 503, body)

        def _reply(self, status: int, body: Mapping[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the prober hung up
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            # A probe every few seconds is not worth a log line; failures show in the body.
            pass

    return Handler


def database_check(url: str) -> DependencyCheck:
    """A check of the database at `url` through a connection of its own each time (no pool:
    a probe must see an outage at once, not a pooled connection from before)."""
    from sqlalchemy.pool import NullPool

    from engine.adapters.database import create_db_engine
    from engine.adapters.database_health import check_database

    options = (
        {"connect_args": {"connect_timeout": int(CHECK_TIMEOUT_S)}} if url.startswith("postgres") else {}
    )
    engine = create_db_engine(url, poolclass=NullPool, **options)
    return lambda: check_database(engine)


def broker_check(url: str) -> DependencyCheck:
    from engine.adapters.broker_health import check_broker

    return lambda: check_broker(url, CHECK_TIMEOUT_S)


def start_health_server(
    role: str,
    address: str,
    port: int | None,
    database_url: str,
    broker_url: str | None,
    stall_s: float,
) -> HealthServer | None:
    """The health endpoint of `role`, started, or None when `port` is None (no endpoint).
    `broker_url` None: the role uses no broker (the scheduler)."""
    if port is None:
        return None
    checks = {"database": database_check(database_url)}
    if broker_url is not None:
        checks["broker"] = broker_check(broker_url)
    return HealthServer(role, address, port, LoopProgress(), checks, stall_s).start()
