-- Indexes behind the forecast and the summary, PostgreSQL. Applied by the Alembic revision
-- 0003_forecast.

-- The forecast and /scheduled-tasks-summary read the schedule rows of a time window and join
-- each row's task for its type. With task_id in the time index the window is an index-only
-- scan (no visit to the table's pages, which hold a window's rows scattered); the index keeps
-- its name and its key, so every other read by time uses it as before.
DROP INDEX task_schedule_by_time;
CREATE INDEX task_schedule_by_time ON task_schedule (scheduled_time) INCLUDE (task_id);
