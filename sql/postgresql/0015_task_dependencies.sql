-- Task dependencies. Applied by the Alembic revision 0015_task_dependencies; the semantics are
-- in docs/scheduling.md, the decisions in engine.core.dependencies.
--
-- A task of kind 'after' has no schedule of its own: each run of its upstream task
-- (after_task_id) that ends as after_on asks gives it one schedule row. No foreign key on
-- after_task_id: a deleted upstream is reported on the dependent (GET /tasks/{id}), not
-- cascaded into it.
ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
ALTER TABLE tasks
    ADD CONSTRAINT tasks_kind_check CHECK (kind IN ('immediate', 'cron', 'once', 'after')),
    ADD COLUMN after_task_id BIGINT,
    ADD COLUMN after_on TEXT CHECK (after_on IN ('success', 'finished')),
    ADD CONSTRAINT tasks_after_has_upstream
        CHECK ((kind = 'after') = (after_task_id IS NOT NULL AND after_on IS NOT NULL)),
    ADD CONSTRAINT tasks_after_not_itself CHECK (after_task_id <> id);
-- The dependents of a task, read when its runs end (engine.adapters.dependency_store).
CREATE INDEX tasks_after_task ON tasks (after_task_id) WHERE after_task_id IS NOT NULL;

-- The upstream run a dependent row was triggered by. One row per (dependent task, upstream
-- run): the outcome that triggers it is written once (its transition names the Running row it
-- replaces, under the row's lock), and the insert is guarded by this index. It cannot be a
-- UNIQUE index here: on the partitioned table every unique index must hold the partition key
-- (scheduled_time); UNIQUE (task_id, scheduled_time) does, the dependent row being scheduled
-- at the upstream run's end.
ALTER TABLE task_schedule ADD COLUMN upstream_schedule_id BIGINT;
CREATE INDEX task_schedule_upstream ON task_schedule (upstream_schedule_id, task_id)
    WHERE upstream_schedule_id IS NOT NULL;
