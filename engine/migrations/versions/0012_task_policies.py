"""Per-task scheduling policies: overlap and misfire policies with the misfire grace, timeout
and max-attempts overrides on `tasks`; the `Skipped` status with its reason, and the mark of
rows claimed by policy, on `task_schedule`; forecasts leave Skipped rows out.

Revision ID: 0012_task_policies
Revises: 0011_partitioned_history
"""

from alembic import op

from engine.migrations.sql_files import rewrite_sqlite_table_sql, run_sql_file

revision = "0012_task_policies"
down_revision = "0011_partitioned_history"
branch_labels = None
depends_on = None

_OLD_STATUS_CHECK = "'Failed', 'Dead'))"
_NEW_STATUS_CHECK = (
    "'Failed', 'Dead', 'Skipped')) CHECK ((status = 'Skipped') = (skip_reason IS NOT NULL))"
)


def upgrade() -> None:
    run_sql_file("0012_task_policies.sql")
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # Widening the status CHECK leaves every existing row valid.
        rewrite_sqlite_table_sql("task_schedule", _OLD_STATUS_CHECK, _NEW_STATUS_CHECK)
