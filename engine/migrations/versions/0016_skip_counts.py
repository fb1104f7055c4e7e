"""`skip_counts`: the fire times recorded Skipped since the database was created, per reason,
for /metrics.

Revision ID: 0016_skip_counts
Revises: 0015_task_dependencies
"""

from engine.migrations.sql_files import run_sql_file

revision = "0016_skip_counts"
down_revision = "0015_task_dependencies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0016_skip_counts.sql")
