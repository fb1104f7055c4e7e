"""The named queries of `sql/<dialect>/queries.sql`, for the adapters that run them.

A block starts with a line `-- name: NAME` and runs to the next one; its comment lines are
left out (a `:word` in a comment would otherwise read as a bind parameter).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from engine.adapters.tables import UTCDateTime
from engine.migrations.sql_files import sql_dir

_MARKER = "-- name:"


def parse_named_queries(script: str) -> dict[str, str]:
    """Each block's SQL by name, comments and the final semicolon removed."""
    blocks: dict[str, list[str]] = {}
    lines: list[str] = []  # before the first name: the file's header, dropped
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith(_MARKER):
            name = stripped.removeprefix(_MARKER).strip()
            if name in blocks:
                raise ValueError(f"query {name!r} is defined twice")
            lines = blocks[name] = []
        elif not stripped.startswith("--"):
            lines.append(line)
    return {name: "\n".join(block).strip().rstrip(";").strip() for name, block in blocks.items()}


@cache
def named_query(dialect: str, name: str) -> str:
    """The SQL of query `name` for `dialect` ("postgresql" or "sqlite")."""
    queries = parse_named_queries((sql_dir() / dialect / "queries.sql").read_text())
    try:
        return queries[name]
    except KeyError:
        raise KeyError(f"no query {name!r} in sql/{dialect}/queries.sql") from None


# Parameters that carry an instant: bound as UTCDateTime, so that SQLite gets the same text
# form as the columns hold (PostgreSQL takes the aware datetime as it is).
_INSTANTS = (
    "now",
    "queued_before",
    "lease_until",
    "lease_expires_at",
    "next_attempt_at",
    "time_from",
    "time_to",
    "window_start",
    "window_end",
    "late_before",
    "started_after",
)


def bound_query(connection: Connection, name: str) -> TextClause:
    """Query `name` for the connection's dialect, ready to execute, its instants typed."""
    sql = named_query(connection.dialect.name, name)
    present = [n for n in _INSTANTS if re.search(rf":{n}\b", sql)]
    return text(sql).bindparams(*(bindparam(n, type_=UTCDateTime()) for n in present))


def instant_text(value: datetime | None, dialect: str) -> str | None:
    """An instant as a JSON batch carries it to a named query: what the dialect's column
    holds (SQLite: naive UTC text, `2026-05-01 12:00:00.250000`) or casts from (PostgreSQL:
    the same with `+00:00`)."""
    if value is None:
        return None
    # isoformat rather than strftime, half the cost: a finish batch formats three or four a
    # row. PostgreSQL reads the offset, so the instant goes as it is, in whatever zone.
    if dialect == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value.isoformat(" ", "microseconds")
