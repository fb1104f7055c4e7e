"""The dead letters not discarded, counted (`dead_letter_counts`) by triggers in the
transactions that make or unmake one, on PostgreSQL: /metrics reads the count instead of
every such row, however many the history keeps. SQLite counts the rows on each scrape (its
small embedded databases keep few), so this revision changes nothing there.

Revision ID: 0018_dead_letter_counts
Revises: 0017_schedule_minute_counts
"""

from alembic import op

from engine.migrations.sql_files import run_sql_file

revision = "0018_dead_letter_counts"
down_revision = "0017_schedule_minute_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        run_sql_file("0018_dead_letter_counts.sql")
