"""Distributor and Processor: retry schedule and start lag on task_schedule, lease indexes.

Revision ID: 0004_distribution
Revises: 0003_forecast
"""

from engine.migrations.sql_files import run_sql_file

revision = "0004_distribution"
down_revision = "0003_forecast"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_distribution.sql")
