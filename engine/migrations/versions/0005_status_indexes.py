"""Fewer indexes on task_schedule.status: cheaper status changes, steadier plans.

Revision ID: 0005_status_indexes
Revises: 0004_distribution
"""

from engine.migrations.sql_files import run_sql_file

revision = "0005_status_indexes"
down_revision = "0004_distribution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_status_indexes.sql")
