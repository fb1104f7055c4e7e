"""The schedule rows counted per minute and task type (`schedule_minute_counts`, 0017), which
the forecast's count reads (`count_runs_per_minute_and_type`): the upkeep the triggers leave
to the application.

On PostgreSQL writers append signed counts and never wait on each other; `merge_counts`
folds what was appended into one row per minute and type (the Scheduler calls it after each
pass, so a window's reads stay a few rows per minute). `recount_minutes` makes a range's
counts again from the rows, for the writes no trigger sees: partition changes, and an UPDATE of
scheduled_time, which no Headway write makes (a trigger on UPDATE would cost every claim,
start and finish per row). On SQLite each count is one row updated in place by its triggers,
moves in time included: there is nothing to merge or recount.

Neither changes what the counts add up to: the reads are exact whether or not a merge ran.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.adapters.database import is_postgresql
from engine.adapters.sql_queries import bound_query
from engine.core.forecast import require_whole_minutes

# The advisory lock merges and recounts take ("HWMC"): two merges at once would each wait for
# the other's deletions, and a merge during a recount would add its sums to the recount's.
MERGE_LOCK = 0x48574D43


def merge_counts(connection: Connection) -> bool:
    """Fold the counts appended since the last merge, in the caller's transaction (best a
    short one of its own: the merged rows stay locked until it ends); False if another merge
    (or a recount) holds the lock, which leaves the work to the next call."""
    if not is_postgresql(connection):
        return True
    if not connection.execute(select(func.pg_try_advisory_xact_lock(MERGE_LOCK))).scalar_one():
        return False
    connection.execute(bound_query(connection, "merge_schedule_minute_counts"))
    return True


def recount_minutes(connection: Connection, start: datetime, end: datetime) -> None:
    """Count the rows of the whole minutes [start, end) again, in the caller's transaction,
    which must hold task_schedule's ACCESS EXCLUSIVE lock (no row may change meanwhile).
    Waits for a merge in progress."""
    require_whole_minutes(start, end)
    connection.execute(select(func.pg_advisory_xact_lock(MERGE_LOCK)))
    query = bound_query(connection, "recount_schedule_minutes")
    connection.execute(query, {"window_start": start, "window_end": end})
