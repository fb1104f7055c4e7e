"""The forecast's and the summary's window reads: task_id rides in the time index.

Revision ID: 0003_forecast
Revises: 0002_api
"""

from engine.migrations.sql_files import run_sql_file

revision = "0003_forecast"
down_revision = "0002_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_forecast_indexes.sql")
