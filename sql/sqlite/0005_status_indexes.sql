-- Fewer index entries per status change. Applied by the Alembic revision 0005_status_indexes.
--
-- A task changes its schedule row four times (claimed, handed over, Running, outcome), and
-- each change adds an entry to every index whose predicate the new row version meets.
-- - The plain index on status also misled the planner: right after a burst moved thousands
--   of rows to a new status the statistics still said there were none, and id-list updates
--   scanned every row of that status through it instead of looking their ids up. Counts
--   per status read the table; Dead rows, the one status listed on its own (the dead-letter
--   listing), keep a partial index.
-- - No query looks Running rows up by processor without their ids.
-- - Only Queued rows have leases to sweep (a Running row's lease is checked when its message
--   comes back), so Running rows leave the lease index.
DROP INDEX task_schedule_by_status;
DROP INDEX task_schedule_claimed_by;
DROP INDEX task_schedule_leased;
CREATE INDEX task_schedule_leased ON task_schedule (lease_expires_at)
    WHERE status = 'Queued' AND lease_expires_at IS NOT NULL;
CREATE INDEX task_schedule_dead ON task_schedule (finished_at, id) WHERE status = 'Dead';
