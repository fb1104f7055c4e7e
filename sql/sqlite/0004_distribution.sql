-- Distributor and Processor, SQLite. Applied by the Alembic revision 0004_distribution.
-- SQLite cannot add a CHECK to an existing table; the PostgreSQL constraint
-- task_schedule_retry_only_when_failed is kept by the code that writes next_attempt_at.

ALTER TABLE task_schedule ADD COLUMN next_attempt_at TEXT;
ALTER TABLE task_schedule ADD COLUMN start_lag_ms INTEGER;

CREATE INDEX task_schedule_leased ON task_schedule (lease_expires_at)
    WHERE status IN ('Queued', 'Running') AND lease_expires_at IS NOT NULL;
CREATE INDEX task_schedule_claimed_by ON task_schedule (claimed_by) WHERE status = 'Running';

CREATE INDEX processor_heartbeats_last_seen ON processor_heartbeats (last_seen_at);
