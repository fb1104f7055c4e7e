"""History at scale: daily rollups of task_runs with their watermark, the average view read
from rollups plus recent runs, and the back-fill of every run already recorded.

Converts a database in place: the rollup tables are created, then every existing run is
rolled up in the same transaction (on PostgreSQL new runs wait for it to commit), so the
view's numbers are the same before and after the upgrade.

Revision ID: 0009_history
Revises: 0008_reconcile
"""

from engine.migrations.sql_files import run_sql_file

revision = "0009_history"
down_revision = "0008_reconcile"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The back-fill is SQL of this revision's schema, not the named roll-up queries of today
    # (those join runs to their week, a column 0011 adds).
    run_sql_file("0009_history.sql")
    run_sql_file("0009_history_backfill.sql")
