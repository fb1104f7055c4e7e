"""The reconciliation's reads and writes of `task_schedule` (`engine.core.reconcile` decides).

The SQL is the named blocks `find_stuck_rows`, `redrive_row` and `count_redriven` of
`sql/<dialect>/queries.sql`. Every change names the row as it was seen and checks the row
count, so distributors reconciling at once never drive the same row on twice, and a row that
moved meanwhile (started, renewed, finished) is left alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Integer, Text, select
from sqlalchemy.engine import Connection

from engine.adapters.sql_queries import bound_query
from engine.adapters.tables import UTCDateTime, reconciliation_counts
from engine.core.reconcile import RowSnapshot, StuckKind, attempt_after_redrive
from engine.core.types import ScheduleStatus


def find_stuck_rows(
    connection: Connection, now: datetime, queued_after_s: float, limit: int
) -> list[RowSnapshot]:
    """Rows that may have stopped moving at `now`, up to `limit` of each kind, oldest first."""
    query = bound_query(connection, "find_stuck_rows").columns(
        id=BigInteger(),
        status=Text(),
        attempt=Integer(),
        claimed_by=Text(),
        lease_expires_at=UTCDateTime(),
        queued_at=UTCDateTime(),
        next_attempt_at=UTCDateTime(),
        finished_at=UTCDateTime(),
    )
    queued_before = now - timedelta(seconds=queued_after_s)
    rows = connection.execute(query, {"now": now, "queued_before": queued_before, "limit": limit})
    return [
        RowSnapshot(
            int(row.id),
            ScheduleStatus(row.status),
            int(row.attempt),
            row.claimed_by,
            row.lease_expires_at,
            row.queued_at,
            row.next_attempt_at,
            row.finished_at,
        )
        for row in rows
    ]


def redrive_rows(connection: Connection, rows: Sequence[tuple[RowSnapshot, StuckKind]]) -> Counter[StuckKind]:
    """Send each row back to `Scheduled` (see `engine.core.reconcile`) if it is still as seen,
    count the rows changed per kind, and add the counts to `reconciliation_counts`."""
    redrive = bound_query(connection, "redrive_row")
    changed: Counter[StuckKind] = Counter()
    for row, kind in sorted(rows, key=lambda pair: pair[0].id):  # the global lock order
        values = {
            "id": row.id,
            "attempt": attempt_after_redrive(row),
            "status": row.status.value,
            "seen_attempt": row.attempt,
            "claimed_by": row.claimed_by,
            "lease_expires_at": row.lease_expires_at,
            "next_attempt_at": row.next_attempt_at,
        }
        if connection.execute(redrive, values).first() is not None:
            changed[kind] += 1
    count = bound_query(connection, "count_redriven")
    for kind, row_count in changed.items():
        connection.execute(count, {"kind": kind.value, "row_count": row_count})
    return changed


def redriven_totals(connection: Connection) -> dict[str, int]:
    """Rows driven on since the database was created, per kind (every kind, zero included)."""
    totals = {kind.value: 0 for kind in StuckKind}
    for kind, row_count in connection.execute(
        select(reconciliation_counts.c.kind, reconciliation_counts.c.row_count)
    ):
        totals[kind] = int(row_count)
    return totals
