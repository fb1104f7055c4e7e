"""Options and wiring every command shares. Heavy imports stay inside functions so that
`headway --help` answers at once."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.exc import SQLAlchemyError

    from engine.ports import Broker
    from engine.settings import Settings


def _raw_text(value: Any) -> Any:
    # Typer passes the option's text through untouched; `Settings` converts and checks it.
    return value


def from_settings(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """Typer callback of every option that mirrors a setting (its variable is `HEADWAY_<FIELD>`
    of `engine.settings.Settings`): the text given on the command line, else in the variable,
    is converted and checked by `Settings`' rules, and without either the setting's default is
    used, so defaults and validation live in `Settings` alone. A bad value exits 2, naming the
    option or the variable it came from.

    The default written on a command's parameter is only what `--help` shows; a unit test
    checks it equals the setting's default.
    """
    from pydantic import ValidationError

    from engine.settings import ENV_PREFIX, default_setting, validate_setting

    if ctx.resilient_parsing:  # shell completion: nothing to check
        return value
    variable = str(param.envvar)
    field = variable.removeprefix(ENV_PREFIX).lower()
    source = ctx.get_parameter_source(param.name or "")
    origin = source.name if source is not None else "DEFAULT"
    if origin not in ("COMMANDLINE", "ENVIRONMENT"):
        return default_setting(field)
    try:
        return validate_setting(field, value)
    except ValidationError as error:
        where = param.opts[0] if origin == "COMMANDLINE" else variable
        shown = "" if field.endswith("_url") else f" (got {value!r})"  # URLs may hold a password
        fail(f"{where}: {pydantic_message(error.errors()[0])}{shown}")


def setting_option(flag: str, variable: str, help: str) -> Any:
    """A command-line option for the setting read from `variable` (see `from_settings`)."""
    return typer.Option(flag, envvar=variable, help=help, parser=_raw_text, callback=from_settings)


def command_settings(ctx: typer.Context) -> Settings:
    """The `Settings` a command runs with: every setting it has an option for takes that
    option's value (given, else from its variable, else the default, already checked by
    `from_settings`); the others keep their defaults. The process configs are built from it
    (`engine.process_configs`), the same way for `headway up` and the separate processes.
    """
    from engine.settings import ENV_PREFIX, Settings

    values: dict[str, Any] = {}
    for param in ctx.command.params:
        variable = getattr(param, "envvar", None)
        if isinstance(variable, str) and param.name in ctx.params:
            field = variable.removeprefix(ENV_PREFIX).lower()
            if field in Settings.model_fields:
                values[field] = ctx.params[param.name]
    return Settings.model_construct(**values)


def bool_setting_option(flags: str, variable: str, help: str) -> Any:
    """An on/off option (`--x/--no-x`) for the boolean setting read from `variable`."""
    return typer.Option(flags, envvar=variable, help=help, callback=from_settings)


# The DEFAULT_* values, like the defaults written on the commands' parameters, are only what
# --help shows: Settings decides (tests/unit/test_settings.py checks that the two agree).
DatabaseUrlOption = Annotated[
    str,
    setting_option(
        "--database-url",
        "HEADWAY_DATABASE_URL",
        "Database URL: postgres://, postgresql:// or sqlite:///path.",
    ),
]
DEFAULT_DATABASE_URL = "sqlite:///./headway.db"

BrokerUrlOption = Annotated[
    str,
    setting_option(
        "--broker-url",
        "HEADWAY_BROKER_URL",
        "amqp://user:pass@host:5672/vhost, or memory:// for the in-process broker.",
    ),
]
DEFAULT_BROKER_URL = "memory://"

QueueOption = Annotated[
    str,
    setting_option(
        "--queue", "HEADWAY_QUEUE", "Base name of the broker's queues: NAME, NAME.retry.<ms> and NAME.dlq."
    ),
]
DEFAULT_QUEUE = "headway"

QueueTypeOption = Annotated[
    str,
    setting_option(
        "--queue-type",
        "HEADWAY_QUEUE_TYPE",
        "RabbitMQ queue type for the task and dead-letter queues: quorum or classic.",
    ),
]
DEFAULT_QUEUE_TYPE = "quorum"

CapacityOption = Annotated[
    int,
    setting_option("--capacity-ms", "HEADWAY_CAPACITY_MS", "Compute one instance can do per minute, in ms."),
]
BufferOption = Annotated[
    float,
    setting_option("--buffer", "HEADWAY_BUFFER", "Share of capacity kept free, in [0, 1)."),
]
ForecastHoursOption = Annotated[
    float,
    setting_option("--forecast-hours", "HEADWAY_FORECAST_HOURS", "Forecast horizon in hours (at most 168)."),
]
RetentionDaysOption = Annotated[
    int,
    setting_option(
        "--retention-days",
        "HEADWAY_RETENTION_DAYS",
        "Finished schedule rows and their runs older than this many days are pruned (>= 1).",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `message` on stderr and exit with `code` (2: bad input, 1: cannot proceed)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def setup_logging(level: str | None = None) -> None:
    """Log to stderr at `level`, or HEADWAY_LOG_LEVEL (its default and check in `Settings`;
    a bad value exits 2 naming the variable)."""
    import os

    from pydantic import ValidationError

    from engine.settings import default_setting, validate_setting

    text = level or os.environ.get("HEADWAY_LOG_LEVEL")
    try:
        chosen = validate_setting("log_level", text) if text else default_setting("log_level")
    except ValidationError as error:
        fail(f"HEADWAY_LOG_LEVEL: {pydantic_message(error.errors()[0])} (got {text!r})")
    logging.basicConfig(
        level=chosen,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Migration bookkeeping is noise in a process log. pika logs every failed connection
    # attempt at ERROR, several lines and a traceback each; the broker adapter already logs
    # one line per failure with the cause, so pika's own report adds only noise.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_instant(value: str, field: str) -> datetime:
    """ISO-8601 with an offset or Z, or a span from now such as `+2h` (`s`, `m`, `h`, `d`);
    a naive value is refused rather than guessed."""
    from engine.core.instants import InstantError, parse_instant_text

    try:
        return parse_instant_text(value, utc_now())
    except InstantError as error:
        fail(f"{field}: {error}")


def format_instant(instant: datetime) -> str:
    """`2026-01-01T00:15:00Z`, the form every command prints."""
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def pydantic_message(item: Any) -> str:
    """The message of one pydantic error without its "Value error, " prefix."""
    message = str(item["msg"])
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    return message


def database_failure(url: str, error: SQLAlchemyError) -> str:
    from sqlalchemy.engine import make_url

    from engine.adapters.database import describe_database_error

    shown = make_url(url).render_as_string(hide_password=True)
    return f"cannot use the database at {shown}: {describe_database_error(error)}"


def open_database(url: str, check_schema: bool = True, long_running: bool = False) -> Engine:
    """An engine for `url`; with `check_schema`, exit 1 with the reason if the database cannot
    be reached or its schema is not the one this code needs. A `long_running` process waits
    (with backoff) for a database that cannot be reached yet instead of exiting, and, as it
    retries every failed transaction anyway, skips the round trip that tests each pooled
    connection before use (after an outage the first failure invalidates the pool and the
    retry reconnects)."""
    import time

    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from engine.adapters.database import create_db_engine, describe_database_error
    from engine.adapters.migrations import SchemaOutdated, ensure_schema_current
    from engine.core.retry import Backoff

    try:
        # A long-running process takes the connection it used last (LIFO): the loop's
        # statements then meet the connection that has them prepared, instead of the pool
        # handing out each of its connections in turn, each planning them anew.
        engine = create_db_engine(url, pool_pre_ping=not long_running, pool_use_lifo=long_running)
    except (SQLAlchemyError, ValueError, ImportError) as error:
        fail(f"database URL: {describe_database_error(error)}")
    backoff = Backoff(0.5, 10.0)
    while check_schema:
        try:
            ensure_schema_current(engine)
            break
        except SchemaOutdated as error:
            fail(str(error), code=1)
        except OperationalError as error:
            if not long_running:
                fail(database_failure(url, error), code=1)
            delay_s = backoff.next_s()
            logging.getLogger("headway").warning(
                "cannot reach the database yet (%s); retrying in %.1f s", str(error).splitlines()[0], delay_s
            )
            time.sleep(delay_s)
        except SQLAlchemyError as error:
            fail(database_failure(url, error), code=1)
    return engine


@contextmanager
def database(url: str, check_schema: bool = True) -> Iterator[Engine]:
    """`open_database(url, check_schema)` for the length of a command. A database error in the
    block ends the command with one line on stderr, not a traceback: exit 2 when the database
    refuses a value (a constraint, a NUL character), 1 otherwise. The engine is disposed."""
    from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

    from engine.adapters.database import describe_database_error

    engine = open_database(url, check_schema)
    try:
        yield engine
    except (DataError, IntegrityError) as error:
        fail(f"the database refused a value: {describe_database_error(error)}")
    except SQLAlchemyError as error:
        fail(database_failure(url, error), code=1)
    finally:
        engine.dispose()


def open_broker(url: str, queue: str, queue_type: str, allow_memory: bool = False) -> Broker:
    """The broker for `url`. `memory://` exists only inside one process, so the separate
    `distributor` and `processor` commands refuse it (`headway up` runs both in one)."""
    from engine.adapters import brokers

    if url.startswith("memory://"):
        if not allow_memory:
            refuse_memory_broker(url)
        return brokers.open_broker(url, queue, queue_type)
    import pika

    try:
        pika.URLParameters(url)  # its query options too (heartbeat=, ssl_options=, ...)
        return brokers.open_broker(url, queue, queue_type)
    except (ValueError, TypeError) as error:
        fail(f"broker URL: {error}")


def refuse_memory_broker(url: str) -> None:
    """Exit 2 for `memory://`, which exists only inside `headway up`: the separate processes
    would each have their own and never meet."""
    if url.startswith("memory://"):
        fail("memory:// is the in-process broker of `headway up`; set HEADWAY_BROKER_URL=amqp://...")


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the processes stop cleanly and exit 0. A second
    signal exits at once (code 128 + the signal): whatever was held goes back to the broker as
    the connection closes, and the rows' leases lapse for the reconciliation to drive on."""
    import contextlib
    import faulthandler
    import os
    import signal

    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set():
            logging.getLogger("headway").warning("second signal: exiting at once")
            os._exit(128 + signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
    # `kill -USR1 <pid>` prints every thread's stack to stderr, the process going on: how to
    # see where a process that does not stop (or does not progress) is waiting.
    # Written to the process's own stderr (file descriptor 2), which a caller embedding the
    # command (a test runner capturing output) may have no stand-in for.
    if sys.__stderr__ is not None:
        with contextlib.suppress(ValueError, OSError):
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    return stop


def freeze_startup_heap() -> None:
    """Move everything allocated so far (modules, the ORM's tables, the broker client) out of
    the garbage collector's sight before a long-running loop starts. A busy processor
    allocates a few objects per task, and each full collection otherwise walks the whole
    start-up heap again: a tenth of a processor's time in a burst."""
    import gc

    gc.collect()
    gc.freeze()


ScalingLeadOption = Annotated[
    int,
    setting_option(
        "--scaling-lead-minutes",
        "HEADWAY_SCALING_LEAD_MINUTES",
        "Minutes ahead GET /scaling/processors covers when a request does not say, 0 to 1,440.",
    ),
]
ScalingCooldownOption = Annotated[
    int,
    setting_option(
        "--scaling-cooldown-minutes",
        "HEADWAY_SCALING_COOLDOWN_MINUTES",
        "Minutes GET /scaling/processors keeps processors after the need drops, 0 to 1,440.",
    ),
]
