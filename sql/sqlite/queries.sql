-- Queries Headway runs at request time, SQLite. Same names, columns and numbers as the
-- PostgreSQL ones; instants are the stored text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC). A minute
-- is written as the views write it, 'YYYY-MM-DD HH:MM:00.000000', kept from the first 17
-- characters (up to the colon after the minutes) so that no colon starts a literal: the
-- query runs through SQLAlchemy's text(), where ':name' is a bind parameter.

-- name: count_runs_per_minute_and_type
-- Schedule rows with :window_start <= scheduled_time < :window_end, whatever their status,
-- counted per UTC minute and task type; both bounds whole UTC minutes. Read from the counts
-- the triggers of 0017 keep in the statements that write the rows, one row per minute and
-- type. tests/integration/test_schedule_minute_counts.py checks it against the rows.
SELECT minute, task_type, run_count
FROM schedule_minute_counts
WHERE minute >= :window_start
  AND minute < :window_end;

-- name: summarize_scheduled_minutes
-- The scheduled_tasks_summary view (0001_views.sql) for the minutes in
-- [:window_start, :window_end), both whole UTC minutes, ascending. The rows of the window are
-- not read: they are counted per minute and type by the triggers of 0017
-- (schedule_minute_counts, as count_runs_per_minute_and_type reads them), whatever their
-- status, and the view leaves Skipped rows out (0012), so those are taken away again from
-- the partial index of Skipped rows. Each row's own task_type (0013) stands for its task's.
-- Reading the window's rows one by one cost time in proportion to them (360,000 rows for
-- 3 hours of 10,000 tasks a minute: over 100 ms) and grew with the week's partition.
-- tests/integration/test_views.py checks it agrees with the view.
WITH compute_per_type AS (
    SELECT tt.name AS task_type,
           COALESCE(a.avg_elapsed_ms, tt.expected_duration_ms) AS compute_ms
    FROM task_types tt
    LEFT JOIN average_elapsed_time_per_task_type a ON a.task_type = tt.name
), counted AS (
    SELECT minute AS scheduled_time, task_type, run_count AS n
    FROM schedule_minute_counts
    WHERE minute >= :window_start
      AND minute < :window_end
    UNION ALL
    SELECT substr(s.scheduled_time, 1, 17) || '00.000000', s.task_type, -1
    FROM task_schedule s
    WHERE s.scheduled_time >= :window_start
      AND s.scheduled_time < :window_end
      AND s.status = 'Skipped'
), per_minute AS (
    SELECT s.scheduled_time,
           SUM(s.n)                AS task_count,
           SUM(s.n * c.compute_ms) AS total_compute_ms
    FROM counted s
    JOIN compute_per_type c ON c.task_type = s.task_type
    GROUP BY 1
    HAVING SUM(s.n) > 0
), divisor AS (
    SELECT capacity_ms * (1000000 - buffer_ppm) AS per_instance_ppm_ms
    FROM scaling_parameters
    WHERE id = 1
)
SELECT m.scheduled_time,
       m.task_count,
       m.total_compute_ms,
       (m.total_compute_ms * 1000000 + d.per_instance_ppm_ms - 1) / d.per_instance_ppm_ms
           AS required_instances
FROM per_minute m
CROSS JOIN divisor d
ORDER BY m.scheduled_time;

-- name: sum_runs_per_minute_and_type
-- What happened to the schedule rows with :window_start <= scheduled_time < :window_end, per
-- UTC minute and task type: rows due, rows that ran (at least one attempt), attempts, and
-- the compute their attempts used (forecast accuracy compares it with the snapshots).
SELECT substr(s.scheduled_time, 1, 17) || '00.000000' AS minute,
       t.task_type,
       COUNT(DISTINCT s.id) AS due_count,
       COUNT(DISTINCT r.schedule_id) AS run_count,
       COUNT(r.id) AS attempts,
       COALESCE(SUM(r.elapsed_ms), 0) AS compute_ms
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
LEFT JOIN task_runs r ON r.schedule_id = s.id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY 1, 2;

-- name: sum_runs_per_task
-- The same, per task over the whole window (which tasks used more or less than planned).
SELECT t.id AS task_id,
       t.name,
       t.task_type,
       COUNT(DISTINCT s.id) AS due_count,
       COUNT(DISTINCT r.schedule_id) AS run_count,
       COUNT(r.id) AS attempts,
       COALESCE(SUM(r.elapsed_ms), 0) AS compute_ms
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
LEFT JOIN task_runs r ON r.schedule_id = s.id
WHERE s.scheduled_time >= :window_start
  AND s.scheduled_time < :window_end
GROUP BY t.id, t.name, t.task_type;

-- name: summarize_start_lags_per_minute_and_bucket
-- Rows scheduled in [:window_start, :window_end) that started (their first attempt's
-- start_lag_ms is set), per UTC minute and lag bucket (engine.core.on_time.lag_bucket_ms:
-- 10 ms wide below 1 s, 100 ms below 10 s, 1 s below 100 s, 10 s above): how many, how
-- many within :target_ms, and the largest lag. engine.core.on_time.lag_minutes adds the
-- buckets up per minute and takes the percentiles from them, so one scan of the window
-- feeds the whole chart. Integer division truncates toward zero, as on PostgreSQL.
SELECT substr(scheduled_time, 1, 17) || '00.000000' AS minute,
       CASE
           WHEN abs(start_lag_ms) < 1000 THEN start_lag_ms / 10 * 10
           WHEN abs(start_lag_ms) < 10000 THEN start_lag_ms / 100 * 100
           WHEN abs(start_lag_ms) < 100000 THEN start_lag_ms / 1000 * 1000
           ELSE start_lag_ms / 10000 * 10000
       END AS bucket_ms,
       COUNT(*) AS run_count,
       SUM(CASE WHEN start_lag_ms <= :target_ms THEN 1 ELSE 0 END) AS on_time_count,
       MAX(start_lag_ms) AS max_lag_ms
FROM task_schedule
WHERE scheduled_time >= :window_start
  AND scheduled_time < :window_end
  AND start_lag_ms IS NOT NULL
GROUP BY 1, 2;

-- name: summarize_waiting_rows_by_type
-- Rows due at or before :now still Scheduled or Queued, per task type: how many, how many
-- were due before :late_before, and the oldest scheduled time.
SELECT t.task_type,
       COUNT(*) AS due_count,
       SUM(CASE WHEN s.scheduled_time < :late_before THEN 1 ELSE 0 END) AS late_count,
       MIN(s.scheduled_time) AS oldest
FROM task_schedule s
JOIN tasks t ON t.id = s.task_id
WHERE s.status IN ('Scheduled', 'Queued')
  AND s.scheduled_time <= :now
GROUP BY t.task_type
ORDER BY t.task_type;

-- name: count_running_rows_per_processor
-- Rows Running now per claiming processor, among those started at or after :started_after.
SELECT claimed_by AS processor_id, COUNT(*) AS running_count
FROM task_schedule
WHERE started_at >= :started_after
  AND status = 'Running'
GROUP BY claimed_by;

-- name: count_finished_runs_per_minute
-- Attempts started in [:window_start, :window_end) and finished, per UTC minute of their
-- finish and outcome class.
SELECT substr(finished_at, 1, 17) || '00.000000' AS minute,
       SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END) AS succeeded_count,
       SUM(CASE WHEN outcome = 'succeeded' THEN 0 ELSE 1 END) AS failed_count
FROM task_runs
WHERE started_at >= :window_start
  AND started_at < :window_end
  AND finished_at IS NOT NULL
GROUP BY 1
ORDER BY 1;

-- name: count_open_rows_by_status
-- Rows with work left, per status, each through its partial index (task_schedule_due,
-- task_schedule_waiting, task_schedule_running_lease, task_schedule_retry_due,
-- task_schedule_dead), so a scrape costs the work in flight, not the history kept. Finished
-- rows (Succeeded, Failed without a retry, discarded dead letters) are history: counted by
-- count_runs_by_outcome from the rollups instead.
SELECT 'Scheduled' AS status, COUNT(*) AS row_count FROM task_schedule WHERE status = 'Scheduled'
UNION ALL
SELECT 'Queued', COUNT(*) FROM task_schedule
WHERE status IN ('Scheduled', 'Queued') AND status = 'Queued'
UNION ALL
SELECT 'Running', COUNT(*) FROM task_schedule WHERE status = 'Running'
UNION ALL
SELECT 'Failed', COUNT(*) FROM task_schedule WHERE status = 'Failed' AND next_attempt_at IS NOT NULL
UNION ALL
SELECT 'Dead', COUNT(*) FROM task_schedule WHERE status = 'Dead' AND discarded_at IS NULL;

-- name: count_runs_by_outcome
-- Attempts recorded since the rollups began, by outcome class as the rollups count them: the
-- rollups (one row per task type and day) plus the runs past their watermark (inserted once,
-- with their outcome), a primary key range scan. Pruning raw runs does not lower it.
SELECT COALESCE(SUM(succeeded), 0) AS succeeded, COALESCE(SUM(failed), 0) AS failed
FROM (
    SELECT succeeded_count AS succeeded, failed_count AS failed FROM task_run_rollups
    UNION ALL
    SELECT CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END,
           CASE WHEN outcome = 'succeeded' THEN 0 ELSE 1 END
    FROM task_runs
    WHERE id > (SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1)
) parts;

-- name: summarize_attempts_per_hour_type_and_bucket
-- Attempts started in [:window_start, :window_end), grouped by UTC hour of their start, task
-- type, outcome (NULL: not finished), finished or not, and elapsed-time bucket (the buckets
-- of engine.core.on_time.lag_bucket_ms; NULL without an elapsed time), with the sum and the
-- maximum of their elapsed times. engine.core.attempt_stats folds the groups into every
-- figure of the Metrics page (percentiles and averages per type, failure rate per hour, run
-- counts per outcome), so the window is scanned once. The hour is kept from the first 14
-- characters of the stored instant.
SELECT substr(started_at, 1, 14) || '00:00.000000' AS hour,
       task_type,
       outcome,
       CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END AS finished,
       CASE
           WHEN elapsed_ms IS NULL THEN NULL
           WHEN elapsed_ms < 1000 THEN elapsed_ms / 10 * 10
           WHEN elapsed_ms < 10000 THEN elapsed_ms / 100 * 100
           WHEN elapsed_ms < 100000 THEN elapsed_ms / 1000 * 1000
           ELSE elapsed_ms / 10000 * 10000
       END AS bucket_ms,
       COUNT(*) AS attempt_count,
       COALESCE(SUM(elapsed_ms), 0) AS elapsed_ms_sum,
       MAX(elapsed_ms) AS max_elapsed_ms
FROM task_runs
WHERE started_at >= :window_start
  AND started_at < :window_end
GROUP BY 1, 2, 3, 4, 5;

-- name: find_stuck_rows
-- Candidates for the reconciliation (engine.core.reconcile), each kind read through its own
-- partial index (0008_reconcile.sql) up to :limit, oldest deadline first. SQLite wants each
-- limited part of a compound select in a subquery of its own.
SELECT * FROM (
    SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
    FROM task_schedule
    WHERE status = 'Queued' AND lease_expires_at IS NULL AND queued_at <= :queued_before
    ORDER BY queued_at LIMIT :limit)
UNION ALL
SELECT * FROM (
    SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
    FROM task_schedule
    WHERE status = 'Running' AND lease_expires_at <= :now
    ORDER BY lease_expires_at LIMIT :limit)
UNION ALL
SELECT * FROM (
    SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
    FROM task_schedule
    WHERE status = 'Failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= :queued_before
    ORDER BY next_attempt_at LIMIT :limit);

-- name: redrive_row
-- Back to Scheduled with :attempt if the row is still as the reconciliation saw it. SQLite
-- has one writer at a time (BEGIN IMMEDIATE): no row is held by anyone else meanwhile.
UPDATE task_schedule SET status = 'Scheduled', attempt = :attempt, claimed_by = NULL,
       lease_expires_at = NULL, queued_at = NULL, next_attempt_at = NULL
WHERE id = :id AND status = :status AND attempt = :seen_attempt
  AND claimed_by IS :claimed_by
  AND lease_expires_at IS :lease_expires_at
  AND next_attempt_at IS :next_attempt_at
RETURNING id;

-- name: count_redriven
-- Adds :row_count to the rows driven on for :kind.
INSERT INTO reconciliation_counts (kind, row_count) VALUES (:kind, :row_count)
ON CONFLICT (kind) DO UPDATE SET row_count = reconciliation_counts.row_count + excluded.row_count;

-- The processor's state transitions (engine.adapters.run_store), with the same parameters as
-- on PostgreSQL: batches as one JSON array of arrays, instants in it as the columns hold
-- them. SQLite has one writer at a time (BEGIN IMMEDIATE): no lock order to keep.

-- name: start_waiting_rows
-- The normal START of engine.core.leases.decide_start for a whole batch: rows waiting for
-- exactly the message's attempt (Scheduled or Queued at its attempt minus one, or Failed
-- with a retry pending) become Running at :now under :me until :lease_until. :messages is
-- [[schedule_id, attempt], ...] without repeated ids; returns the ids started with their
-- scheduled time and their task's id, type, payload and overrides (timeout_s,
-- max_attempts): RETURNING cannot name a joined table, but a subquery may.
-- The lag is counted in microseconds from the stored text (julianday's doubles are off by
-- tens of them), then truncated to whole milliseconds as in Python.
UPDATE task_schedule SET status = 'Running', attempt = m.attempt, started_at = :now,
       finished_at = NULL, claimed_by = :me, lease_expires_at = :lease_until, next_attempt_at = NULL,
       start_lag_ms = COALESCE(task_schedule.start_lag_ms,
           MIN(2147483647, MAX(0, ((strftime('%s', :now) - strftime('%s', task_schedule.scheduled_time)) * 1000000
                   + CAST(substr(:now, 21) AS INTEGER) - CAST(substr(task_schedule.scheduled_time, 21) AS INTEGER))
                  / 1000)))
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS attempt
    FROM json_each(:messages)
) AS m
WHERE task_schedule.id = m.id AND task_schedule.attempt = m.attempt - 1
  AND (task_schedule.status IN ('Scheduled', 'Queued')
       OR (task_schedule.status = 'Failed' AND task_schedule.next_attempt_at IS NOT NULL))
RETURNING id, task_id, scheduled_time,
    (SELECT task_type FROM tasks WHERE tasks.id = task_schedule.task_id) AS task_type,
    (SELECT payload FROM tasks WHERE tasks.id = task_schedule.task_id) AS payload,
    (SELECT timeout_s FROM tasks WHERE tasks.id = task_schedule.task_id) AS timeout_s,
    (SELECT max_attempts FROM tasks WHERE tasks.id = task_schedule.task_id) AS max_attempts;

-- name: set_running
-- Rows decided START (engine.core.leases.decide_start) become Running at :now under :me
-- until :lease_until, if still at the status and attempt the decision saw.
-- :changes is [[schedule_id, expected_status, expected_attempt, attempt, lag_ms], ...].
UPDATE task_schedule SET status = 'Running', attempt = m.attempt, started_at = :now,
       finished_at = NULL, claimed_by = :me, lease_expires_at = :lease_until, next_attempt_at = NULL,
       start_lag_ms = COALESCE(task_schedule.start_lag_ms, m.lag_ms)
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS expected_status,
           json_extract(value, '$[2]') AS expected_attempt, json_extract(value, '$[3]') AS attempt,
           json_extract(value, '$[4]') AS lag_ms
    FROM json_each(:changes)
) AS m
WHERE task_schedule.id = m.id AND task_schedule.status = m.expected_status
  AND task_schedule.attempt = m.expected_attempt
RETURNING id;

-- name: finish_runs
-- Outcomes: each row Running at its attempt under :me takes its new status. :rows as on
-- PostgreSQL. SQLite cannot insert in the same statement: record_runs follows.
UPDATE task_schedule SET status = m.status, finished_at = m.finished_at, last_error = m.error,
       next_attempt_at = m.next_attempt_at, lease_expires_at = NULL
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS attempt,
           json_extract(value, '$[2]') AS status, json_extract(value, '$[3]') AS finished_at,
           json_extract(value, '$[4]') AS error, json_extract(value, '$[5]') AS next_attempt_at
    FROM json_each(:rows)
) AS m
WHERE task_schedule.id = m.id AND task_schedule.status = 'Running'
  AND task_schedule.attempt = m.attempt AND task_schedule.claimed_by = :me
RETURNING id;

-- name: record_runs
-- The task_runs rows of the outcomes finish_runs recorded: :rows as there, only those.
-- SQLite only: on PostgreSQL finish_runs inserts them in the same statement.
INSERT INTO task_runs (schedule_id, task_id, task_type, attempt, started_at, finished_at,
                       elapsed_ms, outcome, output_excerpt, error, scheduled_time)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'),
       json_extract(value, '$[1]'), json_extract(value, '$[8]'), json_extract(value, '$[3]'),
       json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]'),
       json_extract(value, '$[4]'),
       (SELECT s.scheduled_time FROM task_schedule s WHERE s.id = json_extract(value, '$[0]'))
FROM json_each(:rows);

-- name: give_back_runs
-- Runs that will not finish here: Running at their attempt under :me -> Queued at the
-- previous attempt, queued anew at :now. :runs is [[schedule_id, attempt], ...].
UPDATE task_schedule SET status = 'Queued', attempt = m.attempt - 1, claimed_by = NULL,
       lease_expires_at = NULL, queued_at = :now
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS attempt
    FROM json_each(:runs)
) AS m
WHERE task_schedule.id = m.id AND task_schedule.status = 'Running'
  AND task_schedule.attempt = m.attempt AND task_schedule.claimed_by = :me
RETURNING id;

-- The Distributor's state transitions (engine.adapters.distribution_store), with the same
-- parameters as the PostgreSQL ones. BEGIN IMMEDIATE serialises the writers, so no row is
-- locked here. :ids is a JSON array of schedule ids.

-- name: claim_due_rows
-- Up to :limit due Scheduled rows without a policy, oldest first, become Queued under
-- :claimer until :lease_until, queued at :now. The type comes from the row itself (0013).
UPDATE task_schedule
SET status = 'Queued', claimed_by = :claimer, lease_expires_at = :lease_until, queued_at = :now
WHERE status = 'Scheduled' AND id IN (
    SELECT id
    FROM task_schedule
    WHERE status = 'Scheduled' AND scheduled_time <= :now AND NOT policy_claim
    ORDER BY scheduled_time
    LIMIT :limit
)
RETURNING id, task_id, task_type, attempt, scheduled_time;

-- name: mark_handed_over
-- The broker confirmed these rows' messages: rows still Queued under :claimer lose their
-- lease, so no sweep resends them.
UPDATE task_schedule SET lease_expires_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'Queued' AND claimed_by = :claimer;

-- name: release_unpublished
-- Publishing failed: rows still Queued under :claimer go back to Scheduled, unclaimed.
UPDATE task_schedule
SET status = 'Scheduled', claimed_by = NULL, lease_expires_at = NULL, queued_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'Queued' AND claimed_by = :claimer;

-- name: expired_claims_exist
-- Whether sweep_expired_claims has anything to do at :now (a read before the update, as on
-- PostgreSQL, where it saves planning the update every loop).
SELECT EXISTS (
    SELECT 1 FROM task_schedule
    WHERE status = 'Queued' AND lease_expires_at IS NOT NULL AND lease_expires_at <= :now
);

-- name: sweep_expired_claims
-- Queued rows whose distributor lease ran out by :now go back to Scheduled, unclaimed.
UPDATE task_schedule
SET status = 'Scheduled', claimed_by = NULL, lease_expires_at = NULL, queued_at = NULL
WHERE status = 'Queued' AND lease_expires_at IS NOT NULL AND lease_expires_at <= :now;

-- name: recover_in_flight
-- The embedded mode's start-up: every Queued or Running row and every pending retry goes back
-- to Scheduled, unclaimed. A Running row's attempt never finished, so it runs again under the
-- same number (the SET reads the row's status before the update).
UPDATE task_schedule
SET status = 'Scheduled',
    attempt = CASE WHEN status = 'Running' THEN attempt - 1 ELSE attempt END,
    claimed_by = NULL, lease_expires_at = NULL, queued_at = NULL, next_attempt_at = NULL
WHERE status IN ('Queued', 'Running') OR (status = 'Failed' AND next_attempt_at IS NOT NULL);

-- name: read_run_time_span
-- The scheduled times of the task_runs rows with :after_id < id <= :through_id, as on
-- PostgreSQL; SQLite's roll-up finds schedule rows by primary key alone and leaves them aside.
SELECT MIN(scheduled_time) AS time_from, MAX(scheduled_time) AS time_to
FROM task_runs
WHERE id > :after_id AND id <= :through_id;

-- name: roll_up_runs
-- Adds the task_runs rows with :after_id < id <= :through_id to the daily rollups (0009),
-- per task type and UTC day of their start, as the PostgreSQL query does.
INSERT INTO task_run_rollups (task_type, day, run_count, succeeded_count, failed_count,
                              elapsed_count, elapsed_ms_sum, start_lag_count, start_lag_ms_sum)
SELECT r.task_type,
       substr(r.started_at, 1, 10),
       COUNT(*),
       SUM(CASE WHEN r.outcome = 'succeeded' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.outcome = 'succeeded' THEN 0 ELSE 1 END),
       COUNT(r.elapsed_ms),
       COALESCE(SUM(r.elapsed_ms), 0),
       COUNT(s.start_lag_ms),
       COALESCE(SUM(s.start_lag_ms), 0)
FROM task_runs r
LEFT JOIN task_schedule s ON s.id = r.schedule_id AND r.attempt = 1
WHERE r.id > :after_id AND r.id <= :through_id
GROUP BY 1, 2
ON CONFLICT (task_type, day) DO UPDATE SET
    run_count = run_count + excluded.run_count,
    succeeded_count = succeeded_count + excluded.succeeded_count,
    failed_count = failed_count + excluded.failed_count,
    elapsed_count = elapsed_count + excluded.elapsed_count,
    elapsed_ms_sum = elapsed_ms_sum + excluded.elapsed_ms_sum,
    start_lag_count = start_lag_count + excluded.start_lag_count,
    start_lag_ms_sum = start_lag_ms_sum + excluded.start_lag_ms_sum;

-- name: roll_up_run_buckets
-- The same runs counted per histogram bucket (engine.core.histogram.HISTORY_BOUNDS_MS).
WITH measured AS (
    SELECT r.task_type, substr(r.started_at, 1, 10) AS day, 'elapsed' AS measure,
           r.elapsed_ms AS value_ms
    FROM task_runs r
    WHERE r.id > :after_id AND r.id <= :through_id AND r.elapsed_ms IS NOT NULL
    UNION ALL
    SELECT r.task_type, substr(r.started_at, 1, 10), 'start_lag', s.start_lag_ms
    FROM task_runs r
    JOIN task_schedule s ON s.id = r.schedule_id
    WHERE r.id > :after_id AND r.id <= :through_id AND r.attempt = 1 AND s.start_lag_ms IS NOT NULL
)
INSERT INTO task_run_rollup_buckets (task_type, day, measure, bucket, run_count)
SELECT task_type, day, measure,
       CASE
           WHEN value_ms <= 10 THEN 0
           WHEN value_ms <= 25 THEN 1
           WHEN value_ms <= 50 THEN 2
           WHEN value_ms <= 100 THEN 3
           WHEN value_ms <= 250 THEN 4
           WHEN value_ms <= 500 THEN 5
           WHEN value_ms <= 1000 THEN 6
           WHEN value_ms <= 2500 THEN 7
           WHEN value_ms <= 5000 THEN 8
           WHEN value_ms <= 10000 THEN 9
           WHEN value_ms <= 30000 THEN 10
           WHEN value_ms <= 60000 THEN 11
           WHEN value_ms <= 300000 THEN 12
           WHEN value_ms <= 3600000 THEN 13
           ELSE 14
       END,
       COUNT(*)
FROM measured
WHERE true
GROUP BY 1, 2, 3, 4
ON CONFLICT (task_type, day, measure, bucket) DO UPDATE SET
    run_count = run_count + excluded.run_count;

-- name: read_rollup_watermark
-- The last task_runs id counted in the rollups (the write lock of BEGIN IMMEDIATE keeps
-- every other writer out until commit).
SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1;

-- name: move_rollup_watermark
UPDATE history_rollup_state SET rolled_up_run_id = :through_id
WHERE id = 1 AND rolled_up_run_id = :after_id;

-- name: find_prunable_rows
-- Up to :batch_size schedule rows that engine.core.retention.is_prunable says may go
-- (Succeeded, Skipped, or Failed with no retry pending, finished before :cutoff; or a dead letter
-- discarded before :cutoff, which it died before; the first condition is the predicate of
-- task_schedule_prunable word for word, so that both planners use that index) and whose runs are
-- all rolled up (id <= :rolled_up_run_id), after (:after_time, :after_id) in the order of
-- task_schedule_prunable (0009): finished_at, id. The cursor reads each row once per prune.
-- BEGIN IMMEDIATE holds every other writer off until the batch commits.
SELECT s.id, s.finished_at
FROM task_schedule s
WHERE (s.status = 'Succeeded' OR (s.status = 'Failed' AND s.next_attempt_at IS NULL)
       OR (s.status = 'Dead' AND s.discarded_at IS NOT NULL) OR s.status = 'Skipped')
  AND (s.status <> 'Dead' OR s.discarded_at < :cutoff)
  AND s.finished_at < :cutoff
  AND (s.finished_at > :after_time OR (s.finished_at = :after_time AND s.id > :after_id))
  AND NOT EXISTS (SELECT 1 FROM task_runs r WHERE r.schedule_id = s.id AND r.id > :rolled_up_run_id)
ORDER BY s.finished_at, s.id
LIMIT :batch_size;

-- name: count_prunable_rows
-- What a prune at :cutoff would remove (the rows of find_prunable_rows, once rolled up):
-- schedule rows and their runs.
SELECT COUNT(DISTINCT s.id) AS schedule_rows, COUNT(r.id) AS run_rows
FROM task_schedule s
LEFT JOIN task_runs r ON r.schedule_id = s.id
WHERE (s.status = 'Succeeded' OR (s.status = 'Failed' AND s.next_attempt_at IS NULL)
       OR (s.status = 'Dead' AND s.discarded_at IS NOT NULL) OR s.status = 'Skipped')
  AND (s.status <> 'Dead' OR s.discarded_at < :cutoff)
  AND s.finished_at < :cutoff;
