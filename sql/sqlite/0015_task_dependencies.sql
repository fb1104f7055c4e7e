-- Task dependencies. Applied by the Alembic revision 0015_task_dependencies; the semantics are
-- in docs/scheduling.md, the decisions in engine.core.dependencies. The kind CHECK is widened
-- to 'after' by the revision itself (SQLite cannot alter a constraint in SQL alone).
ALTER TABLE tasks ADD COLUMN after_task_id INTEGER CHECK (after_task_id <> id);
ALTER TABLE tasks ADD COLUMN after_on TEXT CHECK (after_on IN ('success', 'finished'));
CREATE INDEX tasks_after_task ON tasks (after_task_id) WHERE after_task_id IS NOT NULL;

-- The upstream run a dependent row was triggered by: one row per (dependent task, upstream run).
ALTER TABLE task_schedule ADD COLUMN upstream_schedule_id INTEGER;
CREATE UNIQUE INDEX task_schedule_upstream ON task_schedule (upstream_schedule_id, task_id) WHERE upstream_schedule_id IS NOT NULL;
