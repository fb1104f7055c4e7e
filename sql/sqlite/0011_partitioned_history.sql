-- Runs carry their schedule row's scheduled_time. Applied by the Alembic revision
-- 0011_partitioned_history. On PostgreSQL it is the partition key of task_runs; SQLite has no
-- partitions (pruning deletes in batches) and keeps the column so both dialects hold the
-- same rows.
ALTER TABLE task_runs ADD COLUMN scheduled_time TEXT;
UPDATE task_runs SET scheduled_time = (SELECT s.scheduled_time FROM task_schedule s WHERE s.id = task_runs.schedule_id)
WHERE schedule_id IS NOT NULL;
