-- Indexes behind the REST API, PostgreSQL. Applied by the Alembic revision 0002_api.

-- GET /tasks filters by type, kind and active and pages by id (newest first): the page and
-- its count read only the matching entries, in order. The name rides along (INCLUDE) so
-- that counting with a name filter is an index-only scan.
CREATE INDEX tasks_list_filters ON tasks (task_type, kind, active, id) INCLUDE (name);

-- GET /tasks?q= is a literal, case-insensitive "name contains" (ILIKE '%q%'): trigrams let it
-- use an index instead of reading every name. pg_trgm ships with PostgreSQL (contrib) and
-- is a trusted extension, so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tasks_name_trgm ON tasks USING gin (name gin_trgm_ops);

-- /metrics reads the runs started in the last hour for the start-lag histogram.
CREATE INDEX task_schedule_started ON task_schedule (started_at) WHERE started_at IS NOT NULL;
