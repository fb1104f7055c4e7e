"""The dead letters not discarded, counted (`dead_letter_counts`, 0018, PostgreSQL only): the
upkeep the triggers leave to the application. /metrics reads the count
(`count_open_rows_by_status`).

Writers append +1 or -1 per row and never wait on each other; `merge_dead_letter_counts`
folds what was appended into the one merged row (the Scheduler calls it after its pass,
with the minute counts' merge). `subtract_detached_dead_letters` takes a detached week's
dead letters off the count, for the rows no trigger sees leave. SQLite has neither table
nor triggers: the scrape counts the rows there.

A merge never changes what the count adds up to: the read is exact whether or not one ran.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from engine.adapters.database import is_postgresql
from engine.adapters.sql_queries import bound_query

# A live dead letter: what the triggers of 0018 and task_schedule_dead (0010) select.
_LIVE = "status = 'Dead' AND discarded_at IS NULL"


def merge_dead_letter_counts(connection: Connection) -> None:
    """Fold the counts appended since the last merge into the merged row, in one statement of
    the caller's transaction, which holds the merge lock (`schedule_counts.MERGE_LOCK`)."""
    if is_postgresql(connection):
        connection.execute(bound_query(connection, "merge_dead_letter_counts"))


def subtract_detached_dead_letters(connection: Connection, table: str) -> int:
    """Take the dead letters of `table`, a week's partition just detached from task_schedule
    (by the caller, who holds its ACCESS EXCLUSIVE lock), off the count; returns how many.
    Read through the detached table's own copy of task_schedule_dead: the week's rows only."""
    removed = int(connection.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {_LIVE}")).scalar_one())
    if removed:
        connection.execute(text("INSERT INTO dead_letter_counts (row_count) VALUES (:n)"), {"n": -removed})
    return removed
