-- The second half of 0011_partitioned_history (see 0011_partitioned_history.sql): the rows,
-- copied into the partitions created meanwhile, ids kept; then the old tables go and the
-- views come back as they were.

INSERT INTO task_schedule (id, task_id, scheduled_time, status, attempt, claimed_by, lease_expires_at,
                           queued_at, started_at, finished_at, last_error, next_attempt_at,
                           start_lag_ms, discarded_at)
SELECT id, task_id, scheduled_time, status, attempt, claimed_by, lease_expires_at, queued_at,
       started_at, finished_at, last_error, next_attempt_at, start_lag_ms, discarded_at
FROM task_schedule_unpartitioned;

INSERT INTO task_runs (id, schedule_id, task_id, task_type, attempt, started_at, finished_at,
                       elapsed_ms, outcome, output_excerpt, error, scheduled_time)
SELECT r.id, r.schedule_id, r.task_id, r.task_type, r.attempt, r.started_at, r.finished_at,
       r.elapsed_ms, r.outcome, r.output_excerpt, r.error, s.scheduled_time
FROM task_runs_unpartitioned r
LEFT JOIN task_schedule_unpartitioned s ON s.id = r.schedule_id;

-- New ids continue after the copied ones.
SELECT setval(pg_get_serial_sequence('task_schedule', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM task_schedule;
SELECT setval(pg_get_serial_sequence('task_runs', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM task_runs;

DROP TABLE task_runs_unpartitioned;
DROP TABLE task_schedule_unpartitioned;

DO $$
DECLARE
    saved RECORD;
BEGIN
    FOR saved IN SELECT name, definition FROM headway_saved_views ORDER BY position LOOP
        EXECUTE 'CREATE VIEW ' || quote_ident(saved.name) || ' AS ' || saved.definition;
    END LOOP;
END $$;

ANALYZE task_schedule;
ANALYZE task_runs;
