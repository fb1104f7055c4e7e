"""Shared fixtures: real PostgreSQL and RabbitMQ, and SQLite files.

Each PostgreSQL test gets its own database cloned from a migrated template, so tests (and
pytest-xdist workers) never see each other's rows. Under CI a server that cannot be reached
fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine, create_engine, text

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade

PG_ADMIN_URL = os.environ.get("HEADWAY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("HEADWAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
IN_CI = bool(os.environ.get("CI"))


def server_reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


def require_server(url: str, port: int, name: str) -> None:
    if server_reachable(url, port):
        return
    message = f"{name} at {url} is not reachable"
    if IN_CI:
        pytest.fail(message + " (CI must run every database and broker test)")
    pytest.skip(message)


def _admin_engine() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for per-test copies."""
    require_server(PG_ADMIN_URL, 5432, "PostgreSQL")
    name = f"headway_tpl_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(_database_url(name), poolclass=None)
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_pg_database(template: str) -> Iterator[str]:
    """A new database cloned from `template`, dropped afterwards; yields its URL."""
    name = f"headway_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _database_url(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this test alone."""
    with fresh_pg_database(pg_template) as url:
        yield url


@pytest.fixture(scope="module")
def pg_module_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database shared by one module's tests: for tests that
    leave no rows behind (each module checks that it does not)."""
    with fresh_pg_database(pg_template) as url:
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "headway.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_db_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def amqp_url() -> str:
    require_server(AMQP_URL, 5672, "RabbitMQ")
    return AMQP_URL


@pytest.fixture
def queue_base(amqp_url: str) -> Iterator[str]:
    """A unique RabbitMQ queue base name for this test; its queues are deleted afterwards."""
    from engine.adapters.rabbitmq import RabbitMQBroker

    base = f"headway-test-{uuid.uuid4().hex[:10]}"
    yield base
    RabbitMQBroker(amqp_url, base).delete_queues()
