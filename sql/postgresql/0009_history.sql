-- History at scale: daily rollups of task_runs, kept exact by a watermark, so statistics
-- outlive the raw rows that retention prunes. Applied by the Alembic revision 0009_history,
-- which then rolls up every run already recorded (engine.adapters.history_store).

-- Per task type and UTC day of the attempt's start: attempts, successes, failures (every
-- other outcome), the attempts with an elapsed time and its sum, and the first attempts with
-- a start lag (task_schedule.start_lag_ms) and its sum. Sums are BIGINT: a day of a busy type
-- adds up billions of ms.
CREATE TABLE task_run_rollups (
    task_type        TEXT   NOT NULL,
    day              DATE   NOT NULL,
    run_count        BIGINT NOT NULL CHECK (run_count >= 0),
    succeeded_count  BIGINT NOT NULL CHECK (succeeded_count >= 0),
    failed_count     BIGINT NOT NULL CHECK (failed_count >= 0),
    elapsed_count    BIGINT NOT NULL CHECK (elapsed_count >= 0),
    elapsed_ms_sum   BIGINT NOT NULL CHECK (elapsed_ms_sum >= 0),
    start_lag_count  BIGINT NOT NULL CHECK (start_lag_count >= 0),
    start_lag_ms_sum BIGINT NOT NULL,
    PRIMARY KEY (task_type, day),
    CHECK (succeeded_count + failed_count = run_count)
);
CREATE INDEX task_run_rollups_day ON task_run_rollups (day);

-- The same attempts per fixed bucket (engine.core.histogram.HISTORY_BOUNDS_MS, bucket i holds
-- values up to bound i, bucket 14 the rest) of elapsed ms and of first-attempt start lag.
CREATE TABLE task_run_rollup_buckets (
    task_type TEXT     NOT NULL,
    day       DATE     NOT NULL,
    measure   TEXT     NOT NULL CHECK (measure IN ('elapsed', 'start_lag')),
    bucket    SMALLINT NOT NULL CHECK (bucket BETWEEN 0 AND 14),
    run_count BIGINT   NOT NULL CHECK (run_count > 0),
    PRIMARY KEY (task_type, day, measure, bucket),
    FOREIGN KEY (task_type, day) REFERENCES task_run_rollups (task_type, day) ON DELETE CASCADE
);

-- Every task_runs row with id <= rolled_up_run_id is counted in the rollups, and no other.
-- task_runs rows are written once (with the outcome) and never updated, so a run is rolled
-- up exactly once; the watermark only moves past ids whose transactions have all ended
-- (engine.adapters.history_store.roll_up_runs), and pruning removes only rolled-up runs.
CREATE TABLE history_rollup_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_up_run_id BIGINT NOT NULL CHECK (rolled_up_run_id >= 0)
);
INSERT INTO history_rollup_state (id, rolled_up_run_id) VALUES (1, 0);

-- A task's next run (GET /tasks, the dashboard's grid, `headway task list`) is its earliest
-- Scheduled row. Through the (task_id, scheduled_time) constraint that read stepped over the
-- task's whole history first (25 ms for a page of 50 tasks with 30 past rows each, growing
-- with the history); this index holds only Scheduled rows, one entry per row the Scheduler
-- adds (0.5 ms).
CREATE INDEX task_schedule_next_due ON task_schedule (task_id, scheduled_time) WHERE status = 'Scheduled';

-- Pruning reads the final rows (engine.core.retention) oldest finish first. Rows kept
-- however old (dead letters, rows waiting for a retry) stay out of this index, so a prune
-- never reads them again; the price is one entry per row when its outcome is recorded.
CREATE INDEX task_schedule_prunable ON task_schedule (finished_at, id)
    WHERE status = 'Succeeded' OR (status = 'Failed' AND next_attempt_at IS NULL);

-- Average elapsed time per task type over the past year (from the UTC day a year ago),
-- rounded half up to whole ms: the rollups' days plus the runs not yet rolled up (a primary
-- key range past the watermark), the same number as averaging every run of the window
-- (tests/integration/test_history.py). Same name and columns as before.
-- The range on id is bounded on both sides (by the last id) although the upper bound
-- excludes nothing: the planner, which cannot know the watermark when it plans the view,
-- estimates a two-sided range of unknown bounds as a small share of the table and reads
-- the primary key from the watermark on; with one side it took a year of task_runs through
-- the started_at index instead (270 ms at 230,000 runs, growing with the history).
CREATE OR REPLACE VIEW average_elapsed_time_per_task_type AS
WITH since AS (
    SELECT date_trunc('day', (CURRENT_TIMESTAMP - INTERVAL '1 year') AT TIME ZONE 'UTC') AS day
), parts AS (
    SELECT r.task_type, r.elapsed_ms_sum AS elapsed_sum, r.elapsed_count
    FROM task_run_rollups r, since
    WHERE r.day >= since.day::date
    UNION ALL
    SELECT t.task_type, SUM(t.elapsed_ms)::BIGINT, COUNT(*)::BIGINT
    FROM task_runs t, since
    WHERE t.id > (SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1)
      AND t.id <= (SELECT MAX(id) FROM task_runs)
      AND t.elapsed_ms IS NOT NULL
      AND t.started_at >= since.day AT TIME ZONE 'UTC'
    GROUP BY t.task_type
)
SELECT task_type,
       ROUND(SUM(elapsed_sum)::NUMERIC / SUM(elapsed_count))::BIGINT AS avg_elapsed_ms,
       SUM(elapsed_count)::BIGINT                                    AS run_count
FROM parts
GROUP BY task_type
HAVING SUM(elapsed_count) > 0;
