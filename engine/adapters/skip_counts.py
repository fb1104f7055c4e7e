"""The counts of fire times recorded Skipped, per reason (`skip_counts`, 0016): added to where
rows are skipped, read by /metrics (three rows, whatever the history kept)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.tables import skip_counts
from engine.core.policies import SkipReason


def add_skip_count(connection: Connection, reason: SkipReason, row_count: int) -> None:
    """Add `row_count` rows skipped for `reason`."""
    if row_count <= 0:
        return
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(skip_counts).values(reason=reason.value, row_count=row_count)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["reason"],
            set_={"row_count": skip_counts.c.row_count + statement.excluded.row_count},
        )
    )


def skip_totals(connection: Connection) -> dict[str, int]:
    """Fire times recorded Skipped since the database was created, per reason (every reason,
    zero included)."""
    totals = {reason.value: 0 for reason in SkipReason}
    for reason, row_count in connection.execute(select(skip_counts.c.reason, skip_counts.c.row_count)):
        totals[reason] = int(row_count)
    return totals
