"""History partitioned by week on PostgreSQL: `task_schedule` and `task_runs` become tables
partitioned by `scheduled_time` (runs carry their schedule row's), so pruning drops whole
weeks; SQLite only gains `task_runs.scheduled_time`.

Converts a database in place, in one transaction that holds both tables for its length (the
processes wait; a few minutes per ten million rows): the old tables are renamed, the
partitioned ones created with every constraint and index, a partition made for each week
that holds rows (from 400 days back; older rows and rows beyond the weeks created ahead go
to the default partition), the rows copied with their ids, the old tables dropped and the
views recreated as they were. See docs/operations.md.

Revision ID: 0011_partitioned_history
Revises: 0010_dead_letter_discard
"""

from datetime import UTC, datetime, timedelta

from alembic import op
from sqlalchemy import text

from engine.migrations.sql_files import run_sql_file

revision = "0011_partitioned_history"
down_revision = "0010_dead_letter_discard"
branch_labels = None
depends_on = None

# Weeks older than this get no partition of their own: their rows go to the default one.
_OLDEST_WEEK = timedelta(days=400)


def upgrade() -> None:
    connection = op.get_bind()
    run_sql_file("0011_partitioned_history.sql")
    if connection.dialect.name != "postgresql":
        return
    from engine.adapters.partition_store import create_partition_pair
    from engine.core.partitions import range_containing, ranges_to_create

    now = datetime.now(UTC)
    weeks = set(ranges_to_create(now))
    for (scheduled_time,) in connection.execute(
        text(
            "SELECT DISTINCT date_trunc('day', scheduled_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
            "FROM task_schedule_unpartitioned "
            "WHERE scheduled_time >= :oldest"
        ),
        {"oldest": now - _OLDEST_WEEK},
    ):
        weeks.add(range_containing(scheduled_time))
    for week in sorted(weeks):
        create_partition_pair(connection, week)
    run_sql_file("0011_partitioned_history_data.sql")
