-- Views behind the scaling formula, PostgreSQL. Applied by the Alembic revision 0001.

-- Average elapsed time per task type over the past year, rounded half up to whole ms.
CREATE VIEW average_elapsed_time_per_task_type AS
SELECT task_type,
       ROUND(AVG(elapsed_ms))::BIGINT AS avg_elapsed_ms,
       COUNT(*)::BIGINT               AS run_count
FROM task_runs
WHERE elapsed_ms IS NOT NULL
  AND started_at >= CURRENT_TIMESTAMP - INTERVAL '1 year'
GROUP BY task_type;

-- Per scheduled minute: tasks, compute (each task at its type's average, or the type's
-- expected duration without history) and required_instances =
-- ceil(total_compute_ms / (capacity_ms x (1 - buffer))), in exact integer arithmetic.
CREATE VIEW scheduled_tasks_summary AS
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
CROSS JOIN divisor d;
