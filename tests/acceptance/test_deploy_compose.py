"""The roles as deploy/compose.yaml runs them (its commands and variables; only the
addresses, ports and queue name are this machine's), as local processes against the real
PostgreSQL (a fresh, empty database the compose file's migration prepares) and RabbitMQ.
Tasks created through the API run through them; each process's health endpoint answers,
turns unready while its database or broker is cut off (TCP proxies, never the shared
servers), and ready again after."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from engine.adapters.database import create_db_engine
from tests.acceptance.faults import Headway, TcpProxy, free_port, wait_for
from tests.conftest import PG_ADMIN_URL
from tests.deploy.manifests import compose_invocations, kubernetes_objects
from tests.integration.helpers import status_counts
from tests.sink import Sink, running_sink

pytestmark = pytest.mark.acceptance

ROLES_WITH_PROBES = ("scheduler", "distributor", "processor")


def get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def post(url: str, body: dict[str, object], token: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def empty_database(amqp_url: str) -> Iterator[str]:
    """A new, empty database (no schema: the compose file's migration makes it)."""
    name = f"headway_deploy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with running_sink() as sink:
        yield sink


class ComposeFleet:
    """The compose file's Headway services as processes, with this machine's addresses."""

    def __init__(self, database: str, queue: str, log_dir: Path) -> None:
        self.db_proxy = TcpProxy(urlsplit(PG_ADMIN_URL.replace("+psycopg", "")).port or 5432)
        self.broker_proxy = TcpProxy(5672)
        self.database_url = f"postgresql://postgres@127.0.0.1:{self.db_proxy.port}/{database}"
        self.services = compose_invocations()
        self.health_ports = {role: free_port() for role in ROLES_WITH_PROBES}
        self.api_port = free_port()
        self.local = {
            "HEADWAY_DATABASE_URL": self.database_url,
            "HEADWAY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{self.broker_proxy.port}/%2F",
            "HEADWAY_QUEUE": queue,
            # Tasks call the test's sink on this machine, an internal address.
            "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
            **{f"HEADWAY_{role.upper()}_HEALTH_PORT": str(port) for role, port in self.health_ports.items()},
        }
        self.log_dir = log_dir
        self.processes: dict[str, Headway] = {}

    def args(self, name: str) -> list[str]:
        args = list(self.services[name].args)
        if "--port" in args:
            args[args.index("--port") + 1] = str(self.api_port)
        return args

    def env(self, name: str) -> dict[str, str]:
        return {**self.services[name].env, **self.local}

    def run(self, name: str) -> Headway:
        process = Headway(self.args(name), self.env(name), self.log_dir, name)
        self.processes[name] = process
        return process

    @property
    def token(self) -> str:
        return self.services["api"].env["HEADWAY_API_TOKEN"]

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    def probe(self, role: str, path: str) -> tuple[int, dict[str, object]]:
        if role == "api":
            return get(self.api(path))
        return get(f"http://127.0.0.1:{self.health_ports[role]}{path}")

    def close(self) -> None:
        for process in self.processes.values():
            process.close()
        self.db_proxy.cut()
        self.broker_proxy.cut()


@pytest.fixture
def fleet(empty_database: str, queue_base: str, tmp_path: Path) -> Iterator[ComposeFleet]:
    fleet = ComposeFleet(empty_database, queue_base, tmp_path)
    yield fleet
    fleet.close()


def wait_status(
    fleet: ComposeFleet, role: str, path: str, status: int, timeout_s: float = 30
) -> dict[str, object]:
    answers: list[tuple[int, dict[str, object]]] = []

    def reached() -> bool:
        answers.append(fleet.probe(role, path))
        return answers[-1][0] == status

    try:
        wait_for(reached, timeout_s, f"{role} {path} to answer {status}")
    except AssertionError:
        raise AssertionError(f"{role} {path}: last answer {answers[-1] if answers else None}") from None
    return answers[-1][1]


def test_the_compose_roles_run_tasks_and_their_probes_follow_the_database_and_the_broker(
    fleet: ComposeFleet, sink: Sink
) -> None:
    migrate = fleet.run("migrate")
    assert migrate.process.wait(120) == 0, migrate.log()
    for name in ("scheduler", "distributor", "processor", "api"):
        fleet.run(name)
    for role in (*ROLES_WITH_PROBES, "api"):
        wait_status(fleet, role, "/readyz", 200, timeout_s=60)
        assert fleet.probe(role, "/livez")[0] == 200

    def add_tasks(count: int, label: str) -> None:
        for index in range(count):
            status, body = post(
                fleet.api("/tasks"),
                {
                    "name": f"{label} {index}",
                    "task_type": "http",
                    "kind": "immediate",
                    "payload": {"url": f"{sink.url}/ok"},
                },
                fleet.token,
            )
            assert status == 201, body

    engine = create_db_engine(fleet.database_url.replace(f":{fleet.db_proxy.port}/", ":5432/"))
    try:
        add_tasks(20, "first")
        wait_for(lambda: status_counts(engine) == {"Succeeded": 20}, 60, "the first tasks to succeed")

        # KEDA's call, as keda.yaml makes it, answers with the field it reads.
        trigger = next(
            t
            for t in kubernetes_objects("ScaledObject")["headway-processor"]["spec"]["triggers"]
            if t["type"] == "metrics-api"
        )
        url = urlsplit(trigger["metadata"]["url"])
        status, body = get(fleet.api(f"{url.path}?{url.query}"), fleet.token)
        assert status == 200 and isinstance(body[trigger["metadata"]["valueLocation"]], int), body

        fleet.db_proxy.cut()
        for role in (*ROLES_WITH_PROBES, "api"):
            problems = wait_status(fleet, role, "/readyz", 503)["problems"]
            assert any(str(problem).startswith("database") for problem in problems), (role, problems)  # type: ignore[attr-defined]
            assert fleet.probe(role, "/livez")[0] == 200, role  # an outage is no reason to restart
        fleet.db_proxy.restore()
        for role in (*ROLES_WITH_PROBES, "api"):
            wait_status(fleet, role, "/readyz", 200, timeout_s=60)

        fleet.broker_proxy.cut()
        for role in ("distributor", "processor", "api"):
            problems = wait_status(fleet, role, "/readyz", 503)["problems"]
            assert any(str(problem).startswith("broker") for problem in problems), (role, problems)  # type: ignore[attr-defined]
            assert fleet.probe(role, "/livez")[0] == 200, role
        assert fleet.probe("scheduler", "/readyz")[0] == 200  # it uses no broker
        fleet.broker_proxy.restore()
        for role in ("distributor", "processor", "api"):
            wait_status(fleet, role, "/readyz", 200, timeout_s=60)

        add_tasks(20, "after the outages")
        wait_for(lambda: status_counts(engine) == {"Succeeded": 40}, 90, "the later tasks to succeed")
        assert len(sink.keys) == 40
        api = fleet.processes.pop("api")
        codes = {
            name: process.terminate(90) for name, process in fleet.processes.items() if name != "migrate"
        }
        assert set(codes.values()) == {0}, codes
        # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught (exit -15).
        assert api.terminate(30) in (0, -15)
        assert "Application shutdown complete" in api.log()
    finally:
        engine.dispose()
