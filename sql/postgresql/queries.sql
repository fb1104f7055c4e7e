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
