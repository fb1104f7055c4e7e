-- The back-fill of 0009_history: every run recorded before the rollups existed, counted as
-- the named roll-up queries of queries.sql counted them at this revision (per task type and
-- UTC day of the start; a first attempt's start lag from its schedule row), and the
-- watermark set past the last run. Kept here as it was, not read from queries.sql: those
-- queries follow the schema of today (0011 gives runs their schedule row's scheduled_time
-- and joins on it), which a database at 0009 does not have yet.
-- The migration holds SQLite's write lock: no run is inserted meanwhile.
INSERT INTO task_run_rollups (task_type, day, run_count, succeeded_count, failed_count,
                              elapsed_count, elapsed_ms_sum, start_lag_count, start_lag_ms_sum)
SELECT r.task_type,
       substr(r.started_at, 1, 10),
       COUNT(*),
       SUM(CASE WHEN r.outcome = 'succeeded' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.outcome = 'succeeded' THEN 0 ELSE 1 END),
       COUNT(r.elapsed_ms),
       COALESCE(SUM(r.elapsed_ms), 0),
       COUNT(s.start_lag_ms),
       COALESCE(SUM(s.start_lag_ms), 0)
FROM task_runs r
LEFT JOIN task_schedule s ON s.id = r.schedule_id AND r.attempt = 1
GROUP BY 1, 2;

WITH measured AS (
    SELECT r.task_type, substr(r.started_at, 1, 10) AS day, 'elapsed' AS measure,
           r.elapsed_ms AS value_ms
    FROM task_runs r
    WHERE r.elapsed_ms IS NOT NULL
    UNION ALL
    SELECT r.task_type, substr(r.started_at, 1, 10), 'start_lag', s.start_lag_ms
    FROM task_runs r
    JOIN task_schedule s ON s.id = r.schedule_id
    WHERE r.attempt = 1 AND s.start_lag_ms IS NOT NULL
)
INSERT INTO task_run_rollup_buckets (task_type, day, measure, bucket, run_count)
SELECT task_type, day, measure,
       CASE
           WHEN value_ms <= 10 THEN 0
           WHEN value_ms <= 25 THEN 1
           WHEN value_ms <= 50 THEN 2
           WHEN value_ms <= 100 THEN 3
           WHEN value_ms <= 250 THEN 4
           WHEN value_ms <= 500 THEN 5
           WHEN value_ms <= 1000 THEN 6
           WHEN value_ms <= 2500 THEN 7
           WHEN value_ms <= 5000 THEN 8
           WHEN value_ms <= 10000 THEN 9
           WHEN value_ms <= 30000 THEN 10
           WHEN value_ms <= 60000 THEN 11
           WHEN value_ms <= 300000 THEN 12
           WHEN value_ms <= 3600000 THEN 13
           ELSE 14
       END,
       COUNT(*)
FROM measured
GROUP BY 1, 2, 3, 4;

UPDATE history_rollup_state SET rolled_up_run_id = (SELECT COALESCE(MAX(id), 0) FROM task_runs)
WHERE id = 1;
