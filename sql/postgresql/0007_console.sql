-- Indexes behind the dashboard (On time, Workers). Applied by the Alembic revision 0007_console.
--
-- The dashboard's On time page counts, per task type, the rows whose scheduled time has
-- passed while they are still Scheduled or Queued, and the oldest of them. Both statuses
-- are few at any time and their times are recent, so this index stays small; without it
-- Queued rows (no index by status since 0005) were found by reading the whole table.
-- Its cost is one more index entry when a row is added and when it is handed over.
CREATE INDEX task_schedule_waiting ON task_schedule (scheduled_time) INCLUDE (task_id)
    WHERE status IN ('Scheduled', 'Queued');

-- Attempts started in a window (throughput per minute, run counts): one index entry per
-- attempt, written once when the attempt starts.
CREATE INDEX task_runs_started ON task_runs (started_at);
