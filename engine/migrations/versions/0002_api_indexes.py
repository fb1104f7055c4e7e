"""Indexes behind the REST API: the filtered task list, name search and the start-lag metric.

Revision ID: 0002_api
Revises: 0001
"""

from engine.migrations.sql_files import run_sql_file

revision = "0002_api"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_api_indexes.sql")
