"""Initial schema: task types, tasks, schedule, runs, heartbeats and the scaling views.

Revision ID: 0001
Revises:
"""

from engine.migrations.sql_files import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_schema.sql")
    run_sql_file("0001_views.sql")
