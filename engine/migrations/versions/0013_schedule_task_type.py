"""Each schedule row carries its task's type (`task_schedule.task_type`, filled for the existing
rows, kept by triggers for writers that leave it out and for edited types), and the time index
holds it: the forecast's per-minute, per-type count reads no task.

Revision ID: 0013_schedule_task_type
Revises: 0012_task_policies
"""

from engine.migrations.sql_files import run_sql_file

revision = "0013_schedule_task_type"
down_revision = "0012_task_policies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_schedule_task_type.sql")
