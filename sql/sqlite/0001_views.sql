-- Views behind the scaling formula, SQLite. Same columns and numbers as the PostgreSQL ones.

CREATE VIEW average_elapsed_time_per_task_type AS
SELECT task_type,
       CAST(ROUND(AVG(elapsed_ms)) AS INTEGER) AS avg_elapsed_ms,
       COUNT(*)                                AS run_count
FROM task_runs
WHERE elapsed_ms IS NOT NULL
  AND started_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 year')
GROUP BY task_type;

CREATE VIEW scheduled_tasks_summary AS
WITH compute_per_type AS (
    SELECT tt.name AS task_type,
           COALESCE(a.avg_elapsed_ms, tt.expected_duration_ms) AS compute_ms
    FROM task_types tt
    LEFT JOIN average_elapsed_time_per_task_type a ON a.task_type = tt.name
), per_minute AS (
    SELECT substr(s.scheduled_time, 1, 16) || ':00.000000' AS scheduled_time,
           COUNT(*)          AS task_count,
           SUM(c.compute_ms) AS total_compute_ms
    FROM task_schedule s
    JOIN tasks t ON t.id = s.task_id
    JOIN compute_per_type c ON c.task_type = t.task_type
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
CROSS JOIN divisor d;
