"""The schedule rows counted per minute and task type (`schedule_minute_counts`), kept by
triggers in the transactions that add, remove or move rows: the forecast's count reads a few
rows per minute instead of every schedule row of its window.

Revision ID: 0017_schedule_minute_counts
Revises: 0016_skip_counts
"""

from engine.migrations.sql_files import run_sql_file

revision = "0017_schedule_minute_counts"
down_revision = "0016_skip_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_schedule_minute_counts.sql")
