"""Dead letters can be discarded: `task_schedule.discarded_at`, and the dead-letter index split
into live and discarded rows; a discarded dead letter is history that pruning may remove.

Revision ID: 0010_dead_letter_discard
Revises: 0009_history
"""

from engine.migrations.sql_files import run_sql_file

revision = "0010_dead_letter_discard"
down_revision = "0009_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_dead_letter_discard.sql")
