-- The reconciliation: rows that stopped moving, found by their deadline. Applied by the
-- Alembic revision 0008_reconcile.
--
-- Each index holds only the rows of one stuck-able state, ordered by the instant from which
-- that state is overdue, so a pass reads the overdue ones and nothing else however many
-- millions of rows are final:
-- - Queued rows handed over to the broker (no lease) and not yet started, by queued_at;
-- - Running rows, by their lease (renewed by the heartbeat of a live processor);
-- - Failed rows with a retry on its way, by next_attempt_at.
CREATE INDEX task_schedule_handed_over ON task_schedule (queued_at)
    WHERE status = 'Queued' AND lease_expires_at IS NULL;
CREATE INDEX task_schedule_running_lease ON task_schedule (lease_expires_at) WHERE status = 'Running';
CREATE INDEX task_schedule_retry_due ON task_schedule (next_attempt_at)
    WHERE status = 'Failed' AND next_attempt_at IS NOT NULL;

-- Rows driven on by the reconciliation since the database was created, per kind of stall,
-- for /metrics (a counter: it only grows).
CREATE TABLE reconciliation_counts (
    kind TEXT PRIMARY KEY,
    row_count BIGINT NOT NULL CHECK (row_count >= 0)
);
