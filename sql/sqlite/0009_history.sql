-- History at scale: daily rollups of task_runs, kept exact by a watermark. Same tables,
-- meaning and numbers as sql/postgresql/0009_history.sql (see there). Days are 'YYYY-MM-DD'.

CREATE TABLE task_run_rollups (
    task_type        TEXT    NOT NULL,
    day              TEXT    NOT NULL,
    run_count        INTEGER NOT NULL CHECK (run_count >= 0),
    succeeded_count  INTEGER NOT NULL CHECK (succeeded_count >= 0),
    failed_count     INTEGER NOT NULL CHECK (failed_count >= 0),
    elapsed_count    INTEGER NOT NULL CHECK (elapsed_count >= 0),
    elapsed_ms_sum   INTEGER NOT NULL CHECK (elapsed_ms_sum >= 0),
    start_lag_count  INTEGER NOT NULL CHECK (start_lag_count >= 0),
    start_lag_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (task_type, day),
    CHECK (succeeded_count + failed_count = run_count)
);
CREATE INDEX task_run_rollups_day ON task_run_rollups (day);

CREATE TABLE task_run_rollup_buckets (
    task_type TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    measure   TEXT    NOT NULL CHECK (measure IN ('elapsed', 'start_lag')),
    bucket    INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 14),
    run_count INTEGER NOT NULL CHECK (run_count > 0),
    PRIMARY KEY (task_type, day, measure, bucket),
    FOREIGN KEY (task_type, day) REFERENCES task_run_rollups (task_type, day) ON DELETE CASCADE
);

CREATE TABLE history_rollup_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_up_run_id INTEGER NOT NULL CHECK (rolled_up_run_id >= 0)
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

-- The id range is bounded on both sides so that SQLite, too, reads it by rowid (see the
-- PostgreSQL file).
-- SQLite resolves views when they are read: the summary view that reads this one stays.
DROP VIEW average_elapsed_time_per_task_type;
CREATE VIEW average_elapsed_time_per_task_type AS
WITH since AS (
    SELECT date('now', '-1 year') AS day
), parts AS (
    SELECT r.task_type, r.elapsed_ms_sum AS elapsed_sum, r.elapsed_count
    FROM task_run_rollups r, since
    WHERE r.day >= since.day
    UNION ALL
    SELECT t.task_type, SUM(t.elapsed_ms), COUNT(*)
    FROM task_runs t, since
    WHERE t.id > (SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1)
      AND t.id <= (SELECT MAX(id) FROM task_runs)
      AND t.elapsed_ms IS NOT NULL
      AND t.started_at >= since.day
    GROUP BY t.task_type
)
SELECT task_type,
       CAST(ROUND(CAST(SUM(elapsed_sum) AS REAL) / SUM(elapsed_count)) AS INTEGER) AS avg_elapsed_ms,
       SUM(elapsed_count)                                                            AS run_count
FROM parts
GROUP BY task_type
HAVING SUM(elapsed_count) > 0;
