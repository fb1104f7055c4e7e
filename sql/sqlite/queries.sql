-- Queries Headway runs at request time, SQLite. Same names, columns and numbers as the
-- PostgreSQL ones; instants are the stored text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC). A minute
-- is written as the views write it, 'YYYY-MM-DD HH:MM:00.000000', kept from the first 17
-- characters (up to the colon after the minutes) so that no colon starts a literal: the
-- query runs through SQLAlchemy's text(), where ':name' is a bind parameter.

-- name: count_runs_per_minute_and_type
-- Schedule rows with :window_start <= scheduled_time < :window_end, whatever their status,
-- counted per UTC minute and task type.
SELECT substr(s.scheduled_time, 1, 17) || '00.000000' AS minute,
       t.task_type,
       COUNT(*) AS run_count
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY 1, 2;

-- name: summarize_scheduled_minutes
-- The scheduled_tasks_summary view (0001_views.sql) for the minutes in
-- [:window_start, :window_end), both whole UTC minutes, ascending: the view's query with the
-- window on the bare scheduled_time, where the index can serve it.
-- tests/integration/test_views.py checks the two agree row for row.
WITH compute_per_type AS (
    SELECT tt.name AS task_type,
           COALESCE(a.avg_elapsed_ms, tt.expected_duration_ms) AS compute_ms
    FROM task_types tt
    LEFT JOIN average_elapsed_time_per_task_type a ON a.task_type = tt.name
), per_minute AS (
    SELECT substr(s.scheduled_time, 1, 17) || '00.000000' AS scheduled_time,
           COUNT(*)          AS task_count,
           SUM(c.compute_ms) AS total_compute_ms
    FROM task_schedule s
    JOIN tasks t ON t.id = s.task_id
    JOIN compute_per_type c ON c.task_type = t.task_type
    WHERE s.scheduled_time >= :window_start
      AND s.scheduled_time < :window_end
    GROUP BY 1
), divisor AS (
    SELECT capacity_ms * (1000000 - buffer_ppm) AS per_instance_ppm_ms
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
SELECT substr(s.scheduled_time, 1, 17) || '00.000000' AS minute,
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
