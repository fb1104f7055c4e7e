-- Fire times recorded Skipped since the database was created, per reason, for /metrics
-- (`headway_skipped_fire_times_total{reason}`, a counter: it only grows). Added to in the
-- transaction that records the rows Skipped (engine.adapters.policy_claims), so pruning the
-- Skipped rows as history does not lower it and a scrape reads three rows. Applied by the
-- Alembic revision 0016_skip_counts; starts from the Skipped rows kept today.
CREATE TABLE skip_counts (
    reason TEXT PRIMARY KEY CHECK (reason IN ('overlap', 'coalesced', 'missed')),
    row_count BIGINT NOT NULL CHECK (row_count >= 0)
);
INSERT INTO skip_counts (reason, row_count)
SELECT skip_reason, COUNT(*) FROM task_schedule WHERE status = 'Skipped' GROUP BY skip_reason;
