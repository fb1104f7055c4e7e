"""Task dependencies: tasks of kind `after` (`tasks.after_task_id`, `tasks.after_on`) get a
schedule row when a run of their upstream ends as they ask; the row carries the upstream run's
id (`task_schedule.upstream_schedule_id`).

Revision ID: 0015_task_dependencies
Revises: 0014_ordering_keys
"""

from alembic import op

from engine.migrations.sql_files import rewrite_sqlite_table_sql, run_sql_file

revision = "0015_task_dependencies"
down_revision = "0014_ordering_keys"
branch_labels = None
depends_on = None

_OLD_KIND_CHECK = "CHECK (kind IN ('immediate', 'cron', 'once'))"
# A column CHECK may read other columns in SQLite: the kind's also says that an `after` task,
# and only it, names its upstream and trigger.
_NEW_KIND_CHECK = (
    "CHECK (kind IN ('immediate', 'cron', 'once', 'after') "
    "AND (kind = 'after') = (after_task_id IS NOT NULL AND after_on IS NOT NULL))"
)


def upgrade() -> None:
    run_sql_file("0015_task_dependencies.sql")
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # No stored row breaks the wider CHECK: no task is of kind 'after' yet.
        rewrite_sqlite_table_sql("tasks", _OLD_KIND_CHECK, _NEW_KIND_CHECK)
