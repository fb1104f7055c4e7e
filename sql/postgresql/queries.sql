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

-- name: find_stuck_rows
-- Candidates for the reconciliation (engine.core.reconcile), each kind read through its own
-- partial index (0006_reconcile.sql) up to :limit, oldest deadline first: Queued rows handed
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
