-- Each schedule row carries its task's type. Applied by the Alembic revision
-- 0013_schedule_task_type.
--
-- The forecast, /scheduled-tasks-summary and /scaling/processors count a window's rows per
-- minute and type. Joining every row to its task for the type cost more than the count
-- itself when a window holds tens of thousands of rows; with the type on the row and in the
-- time index, the count is one index-only range scan of task_schedule_by_time.
ALTER TABLE task_schedule ADD COLUMN task_type TEXT;
UPDATE task_schedule s SET task_type = t.task_type FROM tasks t WHERE t.id = s.task_id;
ALTER TABLE task_schedule ALTER COLUMN task_type SET NOT NULL;

-- The Scheduler writes the type with its rows (a trigger per row would slow its inserts by
-- a third); any other writer may leave it out and gets its task's type here.
CREATE FUNCTION headway_schedule_task_type() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT task_type INTO NEW.task_type FROM tasks WHERE id = NEW.task_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER task_schedule_task_type BEFORE INSERT ON task_schedule
    FOR EACH ROW WHEN (NEW.task_type IS NULL) EXECUTE FUNCTION headway_schedule_task_type();

-- A task whose type is edited keeps its rows (engine.services.tasks.edit_task); they take the
-- new type, as they did when the type was read through the join.
CREATE FUNCTION headway_task_type_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_schedule SET task_type = NEW.task_type WHERE task_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_task_type_changed AFTER UPDATE OF task_type ON tasks
    FOR EACH ROW WHEN (OLD.task_type IS DISTINCT FROM NEW.task_type)
    EXECUTE FUNCTION headway_task_type_changed();

-- Same name and key as before (every read by time uses it as it did), task_id kept for the
-- reads that join the task, task_type added for the counts.
DROP INDEX task_schedule_by_time;
CREATE INDEX task_schedule_by_time ON task_schedule (scheduled_time) INCLUDE (task_id, task_type);
-- Likewise the Skipped rows the summary takes away again (0012), so it reads no task either.
DROP INDEX task_schedule_skipped;
CREATE INDEX task_schedule_skipped ON task_schedule (scheduled_time) INCLUDE (task_id, task_type)
    WHERE status = 'Skipped';
