"""Options and wiring every command shares. Heavy imports stay inside functions so that
`headway --help` answers at once."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from engine.ports import Broker

DatabaseUrlOption = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="HEADWAY_DATABASE_URL",
        help="Database URL (postgres://, postgresql://, sqlite:///path).",
    ),
]
DEFAULT_DATABASE_URL = "sqlite:///./headway.db"

BrokerUrlOption = Annotated[
    str,
    typer.Option(
        "--broker-url",
        envvar="HEADWAY_BROKER_URL",
        help="amqp://user:pass@host:5672/vhost, or memory:// for the in-process broker.",
    ),
]
DEFAULT_BROKER_URL = "memory://"

QueueOption = Annotated[
    str,
    typer.Option(
        "--queue",
        envvar="HEADWAY_QUEUE",
        help="Base name of the broker's queues: NAME, NAME.retry.<ms> and NAME.dlq.",
    ),
]
DEFAULT_QUEUE = "headway"

QueueTypeOption = Annotated[
    str,
    typer.Option(
        "--queue-type",
        envvar="HEADWAY_QUEUE_TYPE",
        help="RabbitMQ queue type for the task and dead-letter queues: quorum or classic.",
    ),
]
DEFAULT_QUEUE_TYPE = "quorum"

CapacityOption = Annotated[
    int,
    typer.Option(
        "--capacity-ms", envvar="HEADWAY_CAPACITY_MS", min=1, help="Compute one instance takes per minute."
    ),
]
BufferOption = Annotated[
    float,
    typer.Option(
        "--buffer",
        envvar="HEADWAY_BUFFER",
        min=0.0,
        max=0.999999,
        help="Share of capacity kept free, in [0, 1).",
    ),
]
ForecastHoursOption = Annotated[
    float,
    typer.Option(
        "--forecast-hours",
        envvar="HEADWAY_FORECAST_HOURS",
        min=0.01,
        max=168,
        help="Forecast horizon in hours.",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (2: bad input, 1: cannot proceed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def setup_logging(level: str | None = None) -> None:
    """Log to stderr at `level`, or HEADWAY_LOG_LEVEL (default INFO)."""
    import os

    logging.basicConfig(
        level=(level or os.environ.get("HEADWAY_LOG_LEVEL") or "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Migration bookkeeping and pika's connection chatter are noise in a process log.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(value: str, field: str) -> datetime:
    """ISO-8601 with an offset or Z; a naive value is refused rather than guessed."""
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(f"{field}: {value!r} is not an ISO-8601 instant (e.g. 2026-01-01T09:00:00Z)")
    if instant.tzinfo is None:
        fail(f"{field}: {value!r} has no offset; add Z or +HH:MM")
    return instant.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """`2026-01-01T00:15:00Z`, the form every command prints."""
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def open_database(url: str, check_schema: bool = True, long_running: bool = False) -> Engine:
    """An engine for `url`; with `check_schema`, exit 1 with the reason if the schema is not
    the one this code needs. A `long_running` process waits (with backoff) for a database
    that cannot be reached yet instead of exiting, and, as it retries every failed
    transaction anyway, skips the round trip that tests each pooled connection before use
    (after an outage the first failure invalidates the pool and the retry reconnects)."""
    import time

    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from engine.adapters.database import create_db_engine
    from engine.adapters.migrations import SchemaOutdated, ensure_schema_current

    try:
        engine = create_db_engine(url, pool_pre_ping=not long_running)
    except (SQLAlchemyError, ValueError) as error:
        fail(f"database URL: {error}")
    delay_s = 0.5
    while check_schema:
        try:
            ensure_schema_current(engine)
            break
        except SchemaOutdated as error:
            fail(str(error), code=1)
        except OperationalError as error:
            if not long_running:
                fail(f"cannot reach the database: {error.__class__.__name__}: {error}", code=1)
            logging.getLogger("headway").warning(
                "cannot reach the database yet (%s); retrying in %.1f s", str(error).splitlines()[0], delay_s
            )
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 10.0)
        except SQLAlchemyError as error:
            fail(f"cannot reach the database: {error.__class__.__name__}: {error}", code=1)
    return engine


def open_broker(url: str, queue: str, queue_type: str, allow_memory: bool = False) -> Broker:
    """The broker for `url`. `memory://` exists only inside one process, so the separate
    `distributor` and `processor` commands refuse it (`headway up` runs both in one)."""
    if url.startswith("memory://"):
        if not allow_memory:
            fail("memory:// is the in-process broker of `headway up`; set HEADWAY_BROKER_URL=amqp://...")
        from engine.adapters.memory_broker import MemoryBroker

        return MemoryBroker()
    if not url.startswith(("amqp://", "amqps://")):
        fail(f"broker URL {url!r}: expected amqp://, amqps:// or memory://")
    from engine.adapters.rabbitmq import RabbitMQBroker

    try:
        return RabbitMQBroker(url, queue, queue_type)
    except ValueError as error:
        fail(str(error))


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the processes stop cleanly and exit 0."""
    import signal

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
