-- The schedule rows counted per UTC minute and task type, kept by the writes that add, remove
-- or move rows. Applied by the Alembic revision 0017_schedule_minute_counts.
--
-- /scaling/processors, /forecast, the capacity plan and the forecast accuracy snapshots count
-- a window's rows per minute and type, whatever their status; here the read takes one row per
-- minute and type instead of one index entry per schedule row. Exact, not a cache: the
-- triggers change the counts in the statement that adds, removes or moves a row. A claim,
-- start or finish changes a row's status only, which fires none of them. (SQLite has one
-- writer at a time, so each count is one row, updated in place; PostgreSQL appends and merges.)
CREATE TABLE schedule_minute_counts (
    minute     TEXT    NOT NULL,
    task_type  TEXT    NOT NULL,
    run_count  INTEGER NOT NULL CHECK (run_count > 0),
    PRIMARY KEY (minute, task_type)
) WITHOUT ROWID;

-- The minute is written as count_runs_per_minute_and_type truncated it. A row inserted
-- without its type is counted when 0013's trigger fills the type in (an update of task_type).
-- (A trigger body's statements end mid-line but the last, which shares the line of END: the
-- migration splits statements on lines that end with a semicolon.)
CREATE TRIGGER task_schedule_count_added AFTER INSERT ON task_schedule
    WHEN NEW.task_type IS NOT NULL
BEGIN
    INSERT INTO schedule_minute_counts (minute, task_type, run_count)
    VALUES (substr(NEW.scheduled_time, 1, 17) || '00.000000', NEW.task_type, 1)
    ON CONFLICT (minute, task_type) DO UPDATE SET run_count = run_count + 1; END;

CREATE TRIGGER task_schedule_count_removed AFTER DELETE ON task_schedule
    WHEN OLD.task_type IS NOT NULL
BEGIN
    DELETE FROM schedule_minute_counts
    WHERE minute = substr(OLD.scheduled_time, 1, 17) || '00.000000' AND task_type = OLD.task_type
      AND run_count = 1; UPDATE schedule_minute_counts SET run_count = run_count - 1
    WHERE minute = substr(OLD.scheduled_time, 1, 17) || '00.000000' AND task_type = OLD.task_type; END;

CREATE TRIGGER task_schedule_count_moved AFTER UPDATE OF scheduled_time, task_type ON task_schedule
    WHEN OLD.scheduled_time IS NOT NEW.scheduled_time OR OLD.task_type IS NOT NEW.task_type
BEGIN
    DELETE FROM schedule_minute_counts
    WHERE minute = substr(OLD.scheduled_time, 1, 17) || '00.000000' AND task_type = OLD.task_type
      AND run_count = 1; UPDATE schedule_minute_counts SET run_count = run_count - 1
    WHERE minute = substr(OLD.scheduled_time, 1, 17) || '00.000000' AND task_type = OLD.task_type; INSERT INTO schedule_minute_counts (minute, task_type, run_count)
    SELECT substr(NEW.scheduled_time, 1, 17) || '00.000000', NEW.task_type, 1 WHERE NEW.task_type IS NOT NULL
    ON CONFLICT (minute, task_type) DO UPDATE SET run_count = run_count + 1; END;

INSERT INTO schedule_minute_counts (minute, task_type, run_count)
SELECT substr(scheduled_time, 1, 17) || '00.000000', task_type, COUNT(*)
FROM task_schedule
WHERE task_type IS NOT NULL
GROUP BY 1, 2;
