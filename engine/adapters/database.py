"""Database connections for PostgreSQL (production) and SQLite (the embedded default)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Table,
    any_,
    create_engine,
    event,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from engine.adapters.tables import scaling_parameters, task_runs, task_schedule
from engine.core.scaling import buffer_ppm
from engine.core.types import ScalingParameters, ScheduleStatus
from engine.settings import normalize_database_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Tables PostgreSQL partitions by week of scheduled_time, part of their primary key (0011).
PARTITIONED_BY_TIME = frozenset({task_schedule.name, task_runs.name})
READ_ONLY_OPTION = "headway_read_only"


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An Engine for `url` (`postgres://`, `postgresql://` and `sqlite:///` accepted).

    SQLite is set up for several processes on one file: WAL journal, a busy timeout, foreign
    keys on, and every transaction opened with BEGIN IMMEDIATE so that two writers queue
    for the lock instead of failing half-way with "database is locked".
    """
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No JIT compilation: Headway's statements read and write a few thousand rows, yet
        # PostgreSQL compiles a plan whose estimated cost passes jit_above_cost, and estimates
        # grow with the tables (a range from a watermark is a third of task_runs). At 5 M
        # history rows the runs-by-outcome count spent 56 ms compiling and 3 ms reading;
        # past jit_optimize_above_cost the compilation takes hundreds of ms. A session
        # setting, so PGOPTIONS and the server's own settings still apply otherwise.
        # No parallel workers either, for the same reason: from about 5 M history rows the
        # estimates of a week's partition put a Gather with two workers on counts that read a
        # few rows, and starting the workers took 30-37 ms for what runs in under 1 ms alone
        # (5 M rows: /metrics 131 -> 72 ms, the 3-hour summary 204 -> 139 ms).
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A reader needs no lock in WAL mode; taking the write lock for it would make every
        # API or dashboard read queue behind the processes' writes.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only. On SQLite its transactions start deferred (no write lock);
    a write through it could fail with "database is locked", so only read here. On
    PostgreSQL it is an ordinary connection."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY_OPTION: True})
        yield connection


_STATUSES = frozenset(status.value for status in ScheduleStatus)


def id_in(column: ColumnElement[int], ids: Collection[int], connection: Connection) -> ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL as `= ANY(:ids)` with one array parameter: the same
    statement text for every batch size, so the driver prepares it once instead of
    converting hundreds of parameters per call."""
    if connection.dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(BigInteger())))
    return column.in_(list(ids))


def status_is(column: ColumnElement[str], status: str) -> ColumnElement[bool]:
    """`column = 'status'` with the status written into the statement rather than bound.
    The partial indexes of task_schedule are declared for a status; with the status as a
    parameter PostgreSQL could not use them in a prepared statement's generic plan, so it
    planned the distributor's small reads again on every loop (about 1 ms each across the
    weeks' partitions), and a generic plan would have read the week through the time index."""
    if status not in _STATUSES:
        raise ValueError(f"status: {status!r} is not a schedule status")
    return column == literal_column(f"'{status}'")


def update_unlocked(
    connection: Connection, table: Table, conditions: list[ColumnElement[bool]], values: dict[str, Any]
) -> int:
    """`UPDATE table SET values WHERE conditions`, leaving out rows another transaction holds
    (PostgreSQL `FOR UPDATE SKIP LOCKED`): for writers that must never wait for a row lock.
    Returns the number of rows changed.

    On PostgreSQL the locked rows are chosen once, in a materialized CTE, and the update
    joins them by primary key. The `id IN (subquery)` form let the planner, misled by the
    statistics of a table that just changed in bulk, re-run the locking subquery for every
    candidate row: 1,000 ids among 10,000 `Queued` rows took a second instead of 10 ms.
    A table partitioned by `scheduled_time` (0011) is joined by its whole key, so that each
    row is looked up in its own partition rather than in every one."""
    if connection.dialect.name != "postgresql":
        chosen = select(table.c.id).where(*conditions)
        statement = update(table).where(table.c.id.in_(chosen.scalar_subquery()), *conditions)
    else:
        key = [table.c.id, *([table.c.scheduled_time] if table.name in PARTITIONED_BY_TIME else [])]
        # The rows stay locked until commit, and FOR UPDATE checked the conditions against
        # their latest version: the update need not repeat them.
        locked = (
            select(*key)
            .where(*conditions)
            .with_for_update(skip_locked=True)
            .cte("chosen")
            .prefix_with("MATERIALIZED")
        )
        statement = update(table).where(*(column == locked.c[column.name] for column in key))
    result = connection.execute(statement.values(**values))
    return int(result.rowcount)


def plan_for_values(connection: Connection) -> None:
    """Have PostgreSQL plan this transaction's statements for their values (SET LOCAL).

    The driver prepares a statement it sees five times, and PostgreSQL then plans it once
    for any parameters (a generic plan): right for the loops' small reads, which then cost
    no planning. The processor's batch start names the weeks it touches (scheduled_time
    bounds, 0011); planned generic, every week was read, and bounds of unknown width made the
    planner read the whole span through the time index and test each row against the batch:
    the start of a 10,000-task burst cost 2 to 3 times the CPU."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def is_postgresql(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def describe_database_error(error: BaseException) -> str:
    """The driver's own first line for a database error, without the SQL and SQLAlchemy's link:
    `connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused`."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def store_scaling_parameters(connection: Connection, capacity_ms: int, buffer: float) -> None:
    """Record the configured formula parameters where the summary view reads them."""
    connection.execute(
        update(scaling_parameters)
        .where(scaling_parameters.c.id == 1)
        .values(capacity_ms=capacity_ms, buffer_ppm=buffer_ppm(buffer))
    )


def load_scaling_parameters(connection: Connection) -> ScalingParameters:
    """The parameters the summary view computes with, so other reads can agree with it."""
    row = connection.execute(
        select(scaling_parameters.c.capacity_ms, scaling_parameters.c.buffer_ppm).where(
            scaling_parameters.c.id == 1
        )
    ).one()
    return ScalingParameters(capacity_ms=int(row.capacity_ms), buffer=row.buffer_ppm / 1_000_000)


def is_outage(error: BaseException) -> bool:
    """Whether a failed statement says the database is away or busy (try the same again
    later) rather than that something in it cannot be written (a value out of range, a
    broken constraint: trying again changes nothing).

    Connection losses, timeouts, locks and deadlocks are OperationalError (psycopg and
    sqlite3 alike) or InterfaceError; anything else (DataError, IntegrityError, ...) is about
    what was written."""
    from sqlalchemy import exc

    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError | exc.TimeoutError
    )
