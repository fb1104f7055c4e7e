"""Forecast snapshots: what the forecast said for a minute at fixed lead times.

Revision ID: 0006_forecast_accuracy
Revises: 0005_status_indexes
"""

from engine.migrations.sql_files import run_sql_file

revision = "0006_forecast_accuracy"
down_revision = "0005_status_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_forecast_accuracy.sql")
