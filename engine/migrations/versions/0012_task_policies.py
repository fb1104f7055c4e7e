"""Per-task scheduling policies: overlap and misfire policies with the misfire grace, timeout
and max-attempts overrides on `tasks`; the `Skipped` status with its reason, and the mark of
rows claimed by policy, on `task_schedule`; forecasts leave Skipped rows out.

Revision ID: 0012_task_policies
Revises: 0011_partitioned_history
"""

from alembic import op
from sqlalchemy import text

from engine.migrations.sql_files import run_sql_file

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
        # SQLite's documented way to change a constraint that no stored row breaks
        # (sqlite.org/lang_altertable.html, "making other kinds of table schema changes"):
        # rewrite the table's CREATE statement, then bump schema_version so every connection
        # reads it again. Widening the status CHECK leaves every existing row valid.
        version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
        connection.exec_driver_sql("PRAGMA writable_schema = ON")
        connection.execute(
            text(
                "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
                "WHERE type = 'table' AND name = 'task_schedule'"
            ),
            {"old": _OLD_STATUS_CHECK, "new": _NEW_STATUS_CHECK},
        )
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")
