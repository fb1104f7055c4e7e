-- Per-task scheduling policies. Applied by the Alembic revision 0012_task_policies;
-- the semantics are in docs/scheduling.md, the decisions in engine.core.policies.
--
-- Every column's default is today's behaviour: run every fire time, however late and however
-- many of the same task are still running; NULL overrides mean "the task type's value",
-- a NULL misfire_grace_s the default grace (engine.core.policies.DEFAULT_MISFIRE_GRACE_S).
ALTER TABLE tasks
    ADD COLUMN overlap_policy TEXT NOT NULL DEFAULT 'allow'
        CHECK (overlap_policy IN ('allow', 'skip', 'queue')),
    ADD COLUMN misfire_policy TEXT NOT NULL DEFAULT 'run_all'
        CHECK (misfire_policy IN ('run_all', 'run_latest', 'skip_missed')),
    ADD COLUMN misfire_grace_s INTEGER CHECK (misfire_grace_s >= 0),
    ADD COLUMN timeout_s INTEGER CHECK (timeout_s > 0),
    ADD COLUMN max_attempts INTEGER CHECK (max_attempts >= 1);

-- A fire time a policy decided not to run is `Skipped`, with the reason (engine.core.policies
-- .SkipReason); it needs no compute, so the forecast views leave it out.
ALTER TABLE task_schedule DROP CONSTRAINT task_schedule_status_check;
ALTER TABLE task_schedule
    ADD COLUMN skip_reason TEXT,
    -- Rows of a task whose policies are not the defaults are claimed one task at a time under
    -- its row lock (claim_policy_rows); the default claim leaves them alone. Set when the row
    -- is written, from the task's policies, so the default claim reads no tasks row for it.
    ADD COLUMN policy_claim BOOLEAN NOT NULL DEFAULT FALSE,
    ADD CONSTRAINT task_schedule_status_check
        CHECK (status IN ('Scheduled', 'Queued', 'Running', 'Succeeded', 'Failed', 'Dead', 'Skipped')),
    ADD CONSTRAINT task_schedule_skipped_has_reason CHECK ((status = 'Skipped') = (skip_reason IS NOT NULL));

-- The due rows of policy tasks, and their rows still in flight (the previous run an overlap
-- policy looks at). Only policy rows have entries: the default path writes none of them.
CREATE INDEX task_schedule_policy_due ON task_schedule (scheduled_time)
    WHERE status = 'Scheduled' AND policy_claim;
CREATE INDEX task_schedule_policy_active ON task_schedule (task_id)
    WHERE policy_claim AND (status IN ('Queued', 'Running') OR (status = 'Failed' AND next_attempt_at IS NOT NULL));

-- The Skipped rows of a window, for the forecast reads that take them away from the rows of
-- task_schedule_by_time (summarize_scheduled_minutes) without reading the table.
CREATE INDEX task_schedule_skipped ON task_schedule (scheduled_time) INCLUDE (task_id)
    WHERE status = 'Skipped';

-- A Skipped row is history: pruning removes it once older than the retention
-- (engine.core.retention), through the index of the prunable rows (0009, 0010).
DROP INDEX task_schedule_prunable;
CREATE INDEX task_schedule_prunable ON task_schedule (finished_at, id)
    WHERE status = 'Succeeded' OR (status = 'Failed' AND next_attempt_at IS NULL)
       OR (status = 'Dead' AND discarded_at IS NOT NULL) OR status = 'Skipped';

CREATE OR REPLACE VIEW scheduled_tasks_summary AS
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
    WHERE s.status <> 'Skipped'
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
