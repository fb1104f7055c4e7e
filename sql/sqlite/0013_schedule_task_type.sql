-- Each schedule row carries its task's type. Applied by the Alembic revision
-- 0013_schedule_task_type.
--
-- The forecast, /scheduled-tasks-summary and /scaling/processors count a window's rows per
-- minute and type. With the type on the row and in the time index, the count reads the
-- index alone instead of joining every row to its task.
-- (SQLite cannot add a NOT NULL column without a default to an existing table; the triggers
-- below fill it for every writer that leaves it out.)
ALTER TABLE task_schedule ADD COLUMN task_type TEXT;
UPDATE task_schedule SET task_type = (SELECT t.task_type FROM tasks t WHERE t.id = task_schedule.task_id);

-- The Scheduler writes the type with its rows; any other writer may leave it out and gets its
-- task's type here. (A trigger body's last statement shares the line of END: the migration
-- splits statements on lines that end with a semicolon.)
CREATE TRIGGER task_schedule_task_type AFTER INSERT ON task_schedule
    WHEN NEW.task_type IS NULL
BEGIN
    UPDATE task_schedule SET task_type = (SELECT t.task_type FROM tasks t WHERE t.id = NEW.task_id)
    WHERE id = NEW.id; END;

-- A task whose type is edited keeps its rows (engine.services.tasks.edit_task); they take the
-- new type, as they did when the type was read through the join.
CREATE TRIGGER tasks_task_type_changed AFTER UPDATE OF task_type ON tasks
    WHEN OLD.task_type IS NOT NEW.task_type
BEGIN
    UPDATE task_schedule SET task_type = NEW.task_type WHERE task_id = NEW.id; END;

-- Same name as before (every read by time uses it as it did), task_type added for the counts.
DROP INDEX task_schedule_by_time;
CREATE INDEX task_schedule_by_time ON task_schedule (scheduled_time, task_id, task_type);
-- Likewise the Skipped rows the summary takes away again (0012), so it reads no task either.
DROP INDEX task_schedule_skipped;
CREATE INDEX task_schedule_skipped ON task_schedule (scheduled_time, task_id, task_type) WHERE status = 'Skipped';
