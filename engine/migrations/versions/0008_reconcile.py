"""Reconciliation: deadline indexes for rows that stopped moving, and their counts.

Revision ID: 0008_reconcile
Revises: 0007_console
"""

from engine.migrations.sql_files import run_sql_file

revision = "0008_reconcile"
down_revision = "0007_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_reconcile.sql")
