"""Reconciliation: deadline indexes for rows that stopped moving, and their counts.

Revision ID: 0006_reconcile
Revises: 0005_status_indexes
"""

from engine.migrations.sql_files import run_sql_file

revision = "0006_reconcile"
down_revision = "0005_status_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_reconcile.sql")
