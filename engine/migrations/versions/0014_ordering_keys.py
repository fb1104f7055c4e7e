"""Ordering keys: `tasks.ordering_key`; tasks sharing one start one at a time in scheduled order.

Revision ID: 0014_ordering_keys
Revises: 0013_schedule_task_type
"""

from engine.migrations.sql_files import run_sql_file

revision = "0014_ordering_keys"
down_revision = "0013_schedule_task_type"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_ordering_keys.sql")
