-- What the forecast said for each minute at fixed lead times (180, 60 and 10 minutes before),
-- to compare with what ran. Applied by the Alembic revision 0006_forecast_accuracy.
-- One row per (minute, lead, task type); a minute snapshotted with no task has only its row in
-- forecast_snapshot_minutes, so "forecast 0" and "never snapshotted" differ.
CREATE TABLE forecast_snapshot_minutes (
    minute        TEXT      NOT NULL,
    lead_minutes  INTEGER   NOT NULL CHECK (lead_minutes > 0),
    taken_at      TEXT      NOT NULL,
    PRIMARY KEY (minute, lead_minutes),
    CHECK (taken_at <= minute)
);

CREATE TABLE forecast_snapshots (
    minute        TEXT      NOT NULL,
    lead_minutes  INTEGER   NOT NULL,
    task_type     TEXT      NOT NULL,
    task_count    INTEGER   NOT NULL CHECK (task_count > 0),
    compute_ms    BIGINT    NOT NULL CHECK (compute_ms >= 0),
    PRIMARY KEY (minute, lead_minutes, task_type),
    FOREIGN KEY (minute, lead_minutes) REFERENCES forecast_snapshot_minutes (minute, lead_minutes)
        ON DELETE CASCADE
);
