-- Headway schema, SQLite (the embedded default). Applied by the Alembic revision 0001.
-- Instants are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', which sorts as time does.

CREATE TABLE task_types (
    name                 TEXT PRIMARY KEY CHECK (
        length(name) BETWEEN 1 AND 64
        AND substr(name, 1, 1) GLOB '[a-z]'
        AND name NOT GLOB '*[^a-z0-9_.-]*'),
    description          TEXT NOT NULL DEFAULT '',
    handler              TEXT NOT NULL,
    expected_duration_ms INTEGER NOT NULL CHECK (expected_duration_ms >= 0),
    timeout_ms           INTEGER NOT NULL CHECK (timeout_ms > 0),
    max_attempts         INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    config               TEXT NOT NULL DEFAULT '{}' CHECK (json_type(config) = 'object')
);

CREATE TABLE tasks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL CHECK (length(trim(name)) > 0 AND length(name) <= 200),
    task_type          TEXT NOT NULL REFERENCES task_types (name),
    kind               TEXT NOT NULL CHECK (kind IN ('immediate', 'cron', 'once')),
    cron_expression    TEXT,
    timezone           TEXT,
    run_at             TEXT,
    payload            TEXT NOT NULL DEFAULT '{}' CHECK (json_type(payload) = 'object'),
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    materialized_until TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    CONSTRAINT tasks_cron_has_expression_and_zone
        CHECK (kind <> 'cron' OR (cron_expression IS NOT NULL AND timezone IS NOT NULL)),
    CONSTRAINT tasks_once_has_run_at CHECK (kind <> 'once' OR run_at IS NOT NULL)
);
CREATE INDEX tasks_active_by_kind ON tasks (kind, id) WHERE active = 1;
CREATE INDEX tasks_task_type ON tasks (task_type);

CREATE TABLE task_schedule (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id          INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    scheduled_time   TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'Scheduled'
        CHECK (status IN ('Scheduled', 'Queued', 'Running', 'Succeeded', 'Failed', 'Dead')),
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    claimed_by       TEXT,
    lease_expires_at TEXT,
    queued_at        TEXT,
    started_at       TEXT,
    finished_at      TEXT,
    last_error       TEXT,
    CONSTRAINT task_schedule_one_row_per_fire_time UNIQUE (task_id, scheduled_time)
);
CREATE INDEX task_schedule_due ON task_schedule (scheduled_time) WHERE status = 'Scheduled';
CREATE INDEX task_schedule_by_time ON task_schedule (scheduled_time);
CREATE INDEX task_schedule_by_status ON task_schedule (status);

CREATE TABLE task_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id    INTEGER REFERENCES task_schedule (id) ON DELETE CASCADE,
    task_id        INTEGER REFERENCES tasks (id) ON DELETE CASCADE,
    task_type      TEXT NOT NULL,
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    elapsed_ms     INTEGER CHECK (elapsed_ms >= 0),
    outcome        TEXT,
    output_excerpt TEXT,
    error          TEXT
);
CREATE INDEX task_runs_type_started ON task_runs (task_type, started_at);
CREATE INDEX task_runs_schedule ON task_runs (schedule_id);
CREATE INDEX task_runs_task ON task_runs (task_id, started_at);

CREATE TABLE scaling_parameters (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    capacity_ms INTEGER NOT NULL CHECK (capacity_ms > 0),
    buffer_ppm  INTEGER NOT NULL CHECK (buffer_ppm >= 0 AND buffer_ppm < 1000000)
);
INSERT INTO scaling_parameters (id, capacity_ms, buffer_ppm) VALUES (1, 10000, 100000);

CREATE TABLE processor_heartbeats (
    processor_id TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    concurrency  INTEGER NOT NULL CHECK (concurrency >= 1),
    started_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);

INSERT INTO task_types (name, description, handler, expected_duration_ms, timeout_ms, max_attempts) VALUES
    ('reminder', 'Calls the configured reminder endpoint with the task payload', 'reminder', 500, 30000, 3),
    ('notification', 'Calls the configured notification endpoint with the task payload', 'notification', 800, 30000, 3),
    ('http', 'Sends the HTTP request described by the payload (url, method, headers, json)', 'http', 1000, 30000, 3);
