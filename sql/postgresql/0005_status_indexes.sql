-- Fewer indexes on status. Applied by the Alembic revision 0005_status_indexes.
--
-- Every task changes status four times (Queued, hand-over, Running, outcome), and each change
-- adds an entry to every index of the row. The plain index on status also misled the
-- planner: right after a burst moved thousands of rows to a new status, the statistics
-- still said there were none, and the processor's id-list updates scanned every row of
-- that status through it instead of looking their ids up. Dead rows, the one status read on
-- its own (the dead-letter listing), keep a partial index; counts per status read the table.
DROP INDEX task_schedule_by_status;
CREATE INDEX task_schedule_dead ON task_schedule (finished_at, id) WHERE status = 'Dead';
