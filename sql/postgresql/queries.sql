-- Queries Headway runs at request time, PostgreSQL. Each block starts with "-- name: NAME"
-- and is read by engine.adapters.sql_queries; parameters are :name binds.

-- name: count_runs_per_minute_and_type
-- Schedule rows with :window_start <= scheduled_time < :window_end, whatever their status,
-- counted per UTC minute (truncated as the scheduled_tasks_summary view does) and task
-- type. The range on the bare column is a range scan of task_schedule_by_time.
SELECT date_trunc('minute', s.scheduled_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
       t.task_type,
       COUNT(*) AS run_count
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY 1, 2;

-- name: summarize_scheduled_minutes
-- The scheduled_tasks_summary view (0001_views.sql) for the minutes in
-- [:window_start, :window_end), both whole UTC minutes, ascending. It is the view's query
-- with the window on the bare scheduled_time below the aggregation, where the index can
-- serve it; a filter on the view's truncated minute is applied after reading every row.
-- tests/integration/test_views.py checks the two agree row for row.
WITH compute_per_type AS (
    SELECT tt.name AS task_type,
           COALESCE(a.avg_elapsed_ms, tt.expected_duration_ms)::BIGINT AS compute_ms
    FROM task_types tt
    LEFT JOIN average_elapsed_time_per_task_type a ON a.task_type = tt.name
), per_minute AS (
    SELECT date_trunc('minute', s.scheduled_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               AS scheduled_time,
           COUNT(*)::BIGINT          AS task_count,
           SUM(c.compute_ms)::BIGINT AS total_compute_ms
    FROM task_schedule s
    JOIN tasks t ON t.id = s.task_id
    JOIN compute_per_type c ON c.task_type = t.task_type
    WHERE s.scheduled_time >= :window_start
      AND s.scheduled_time < :window_end
    GROUP BY 1
), divisor AS (
    SELECT capacity_ms::BIGINT * (1000000 - buffer_ppm) AS per_instance_ppm_ms
    FROM scaling_parameters
    WHERE id = 1
)
SELECT m.scheduled_time,
       m.task_count,
       m.total_compute_ms,
       (m.total_compute_ms * 1000000 + d.per_instance_ppm_ms - 1) / d.per_instance_ppm_ms
           AS required_instances
FROM per_minute m
CROSS JOIN divisor d
ORDER BY m.scheduled_time;

-- name: sum_runs_per_minute_and_type
-- What happened to the schedule rows with :window_start <= scheduled_time < :window_end, per
-- UTC minute and task type: rows due, rows that ran (at least one attempt), attempts, and
-- the compute their attempts used (forecast accuracy compares it with the snapshots).
SELECT date_trunc('minute', s.scheduled_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
       t.task_type,
       COUNT(DISTINCT s.id) AS due_count,
       COUNT(DISTINCT r.schedule_id) AS run_count,
       COUNT(r.id) AS attempts,
       COALESCE(SUM(r.elapsed_ms), 0) AS compute_ms
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
LEFT JOIN task_runs r ON r.schedule_id = s.id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY 1, 2;

-- name: sum_runs_per_task
-- The same, per task over the whole window (which tasks used more or less than planned).
SELECT t.id AS task_id,
       t.name,
       t.task_type,
       COUNT(DISTINCT s.id) AS due_count,
       COUNT(DISTINCT r.schedule_id) AS run_count,
       COUNT(r.id) AS attempts,
       COALESCE(SUM(r.elapsed_ms), 0) AS compute_ms
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
LEFT JOIN task_runs r ON r.schedule_id = s.id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY t.id, t.name, t.task_type;

-- name: summarize_start_lags_per_minute_and_bucket
-- Rows scheduled in [:window_start, :window_end) that started (their first attempt's
-- start_lag_ms is set), per UTC minute and lag bucket (engine.core.on_time.lag_bucket_ms:
-- 10 ms wide below 1 s, 100 ms below 10 s, 1 s below 100 s, 10 s above): how many, how
-- many within :target_ms, and the largest lag. engine.core.on_time.lag_minutes adds the
-- buckets up per minute and takes the percentiles from them, so one scan of the window
-- feeds the whole chart. A range scan of task_schedule_by_time; date_bin costs less per
-- row than date_trunc with two time zone conversions.
SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute,
       CASE
           WHEN abs(start_lag_ms) < 1000 THEN start_lag_ms / 10 * 10
           WHEN abs(start_lag_ms) < 10000 THEN start_lag_ms / 100 * 100
           WHEN abs(start_lag_ms) < 100000 THEN start_lag_ms / 1000 * 1000
           ELSE start_lag_ms / 10000 * 10000
       END AS bucket_ms,
       COUNT(*) AS run_count,
       SUM(CASE WHEN start_lag_ms <= :target_ms THEN 1 ELSE 0 END) AS on_time_count,
       MAX(start_lag_ms) AS max_lag_ms
FROM task_schedule
WHERE scheduled_time >= :window_start
  AND scheduled_time < :window_end
  AND start_lag_ms IS NOT NULL
GROUP BY 1, 2;

-- name: summarize_waiting_rows_by_type
-- Rows due at or before :now that no processor has started (Scheduled or Queued), per task
-- type: how many, how many were due before :late_before (late already), and the oldest
-- scheduled time. A range scan of task_schedule_waiting (0007).
SELECT t.task_type,
       COUNT(*) AS due_count,
       SUM(CASE WHEN s.scheduled_time < :late_before THEN 1 ELSE 0 END) AS late_count,
       MIN(s.scheduled_time) AS oldest
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
WHERE s.status IN ('Scheduled', 'Queued')
  AND s.scheduled_time <= :now
GROUP BY t.task_type
ORDER BY t.task_type;

-- name: count_running_rows_per_processor
-- Rows Running now per claiming processor. A run started before :started_after has passed
-- every type's timeout, so the range scan of task_schedule_started stays short; no index
-- looks Running rows up by status (0005).
SELECT claimed_by AS processor_id, COUNT(*) AS running_count
FROM task_schedule
WHERE started_at >= :started_after
  AND status = 'Running'
GROUP BY claimed_by;

-- name: count_finished_runs_per_minute
-- Attempts started in [:window_start, :window_end) and finished, per UTC minute of their
-- finish and outcome class: the throughput the Workers page draws. The window is on
-- started_at, a range scan of task_runs_started (0007).
SELECT date_trunc('minute', finished_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
       SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END) AS succeeded_count,
       SUM(CASE WHEN outcome = 'succeeded' THEN 0 ELSE 1 END) AS failed_count
FROM task_runs
WHERE started_at >= :window_start
  AND started_at < :window_end
  AND finished_at IS NOT NULL
GROUP BY 1
ORDER BY 1;

-- name: summarize_attempts_per_hour_type_and_bucket
-- Attempts started in [:window_start, :window_end), grouped by UTC hour of their start, task
-- type, outcome (NULL: not finished), finished or not, and elapsed-time bucket (the buckets
-- of engine.core.on_time.lag_bucket_ms; NULL without an elapsed time), with the sum and the
-- maximum of their elapsed times. engine.core.attempt_stats folds the groups into every
-- figure of the Metrics page (percentiles and averages per type, failure rate per hour, run
-- counts per outcome), so the window is scanned once: a range scan of task_runs_started.
-- date_bin costs less per row than date_trunc with two time zone conversions.
SELECT date_bin('1 hour', started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour,
       task_type,
       outcome,
       CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END AS finished,
       CASE
           WHEN elapsed_ms IS NULL THEN NULL
           WHEN elapsed_ms < 1000 THEN elapsed_ms / 10 * 10
           WHEN elapsed_ms < 10000 THEN elapsed_ms / 100 * 100
           WHEN elapsed_ms < 100000 THEN elapsed_ms / 1000 * 1000
           ELSE elapsed_ms / 10000 * 10000
       END AS bucket_ms,
       COUNT(*) AS attempt_count,
       COALESCE(SUM(elapsed_ms), 0) AS elapsed_ms_sum,
       MAX(elapsed_ms) AS max_elapsed_ms
FROM task_runs
WHERE started_at >= :window_start
  AND started_at < :window_end
GROUP BY 1, 2, 3, 4, 5;

-- name: find_stuck_rows
-- Candidates for the reconciliation (engine.core.reconcile), each kind read through its own
-- partial index (0008_reconcile.sql) up to :limit, oldest deadline first: Queued rows handed
-- over before :queued_before, Running rows whose lease ended by :now, Failed rows whose retry
-- was due before :queued_before. The core applies the exact deadlines.
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Queued' AND lease_expires_at IS NULL AND queued_at <= :queued_before
 ORDER BY queued_at LIMIT :limit)
UNION ALL
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Running' AND lease_expires_at <= :now
 ORDER BY lease_expires_at LIMIT :limit)
UNION ALL
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= :queued_before
 ORDER BY next_attempt_at LIMIT :limit);

-- name: redrive_row
-- Back to Scheduled with :attempt, for the distributor's next claim, if the row is still as
-- the reconciliation saw it (:status, :seen_attempt, :claimed_by, :lease_expires_at,
-- :next_attempt_at). A row someone holds right now is moving: skipped, not waited for.
-- Returns the id when the row changed.
UPDATE task_schedule SET status = 'Scheduled', attempt = :attempt, claimed_by = NULL,
       lease_expires_at = NULL, queued_at = NULL, next_attempt_at = NULL
WHERE id = (
    SELECT id FROM task_schedule
    WHERE id = :id AND status = :status AND attempt = :seen_attempt
      AND claimed_by IS NOT DISTINCT FROM :claimed_by
      AND lease_expires_at IS NOT DISTINCT FROM :lease_expires_at
      AND next_attempt_at IS NOT DISTINCT FROM :next_attempt_at
    FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- name: count_redriven
-- Adds :row_count to the rows driven on for :kind.
INSERT INTO reconciliation_counts (kind, row_count) VALUES (:kind, :row_count)
ON CONFLICT (kind) DO UPDATE SET row_count = reconciliation_counts.row_count + EXCLUDED.row_count;
