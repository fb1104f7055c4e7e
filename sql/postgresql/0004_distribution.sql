-- Distributor and Processor, PostgreSQL. Applied by the Alembic revision 0004_distribution.

-- A Failed row with next_attempt_at set has a retry on its way through the broker's delay
-- queue; NULL means the failure was final.
ALTER TABLE task_schedule ADD COLUMN next_attempt_at TIMESTAMPTZ;
-- started_at - scheduled_time of the first attempt, the start lag that /metrics reports.
ALTER TABLE task_schedule ADD COLUMN start_lag_ms INTEGER;
ALTER TABLE task_schedule ADD CONSTRAINT task_schedule_retry_only_when_failed
    CHECK (next_attempt_at IS NULL OR status = 'Failed');

-- The sweepers look for claims whose lease ran out.
CREATE INDEX task_schedule_leased ON task_schedule (lease_expires_at)
    WHERE status IN ('Queued', 'Running') AND lease_expires_at IS NOT NULL;
CREATE INDEX task_schedule_claimed_by ON task_schedule (claimed_by) WHERE status = 'Running';

CREATE INDEX processor_heartbeats_last_seen ON processor_heartbeats (last_seen_at);

-- Distributors LISTEN on this channel to wake as soon as rows are added (an immediate task,
-- a run-now), instead of at their next poll. One notification per statement, not per row.
CREATE FUNCTION headway_notify_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('headway_schedule', '');
    RETURN NULL;
END $$;
CREATE TRIGGER task_schedule_notify AFTER INSERT ON task_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION headway_notify_schedule();
