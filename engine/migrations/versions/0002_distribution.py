"""Distributor and Processor: retry schedule and start lag on task_schedule, lease indexes.

Revision ID: 0002
Revises: 0001
"""

from engine.migrations.sql_files import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_distribution.sql")
