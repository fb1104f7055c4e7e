"""Indexes behind the dashboard: rows due and not started, attempts by start time.

Revision ID: 0007_console
Revises: 0006_forecast_accuracy
"""

from engine.migrations.sql_files import run_sql_file

revision = "0007_console"
down_revision = "0006_forecast_accuracy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_console.sql")
