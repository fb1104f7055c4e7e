-- Indexes behind the REST API, SQLite. Applied by the Alembic revision 0002_api.

-- GET /tasks filters by type, kind and active and pages by id (newest first).
CREATE INDEX tasks_list_filters ON tasks (task_type, kind, active, id);

-- /metrics reads the runs started in the last hour for the start-lag histogram.
CREATE INDEX task_schedule_started ON task_schedule (started_at) WHERE started_at IS NOT NULL;
