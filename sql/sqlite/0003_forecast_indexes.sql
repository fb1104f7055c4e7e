-- Indexes behind the forecast and the summary, SQLite. Applied by the Alembic revision
-- 0003_forecast.

-- The forecast and /scheduled-tasks-summary read the schedule rows of a time window and join
-- each row's task for its type: with task_id in the time index (SQLite has no INCLUDE) the
-- window is read from the index alone.
DROP INDEX task_schedule_by_time;
CREATE INDEX task_schedule_by_time ON task_schedule (scheduled_time, task_id);
