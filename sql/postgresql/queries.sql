-- Queries Headway runs at request time, PostgreSQL. Each block starts with "-- name: NAME"
-- and is read by engine.adapters.sql_queries; parameters are :name binds.

-- name: count_runs_per_minute_and_type
-- Schedule rows with :window_start <= scheduled_time < :window_end, whatever their status,
-- counted per UTC minute and task type; both bounds whole UTC minutes. Read from the counts
-- the triggers of 0017 keep in the transactions that write the rows (a few rows per minute
-- and type, merged or not yet), not from the rows: /scaling/processors runs it on every
-- request, and a window of 80,000 rows cost near 50 ms to count one by one.
-- tests/integration/test_schedule_minute_counts.py checks it against the rows.
SELECT minute, task_type, SUM(run_count) AS run_count
FROM schedule_minute_counts
WHERE minute >= :window_start
  AND minute < :window_end
GROUP BY 1, 2
HAVING SUM(run_count) <> 0;

-- name: merge_schedule_minute_counts
-- Fold the counts appended since the last merge into one merged row per minute and type:
-- the minutes and types with an unmerged row (their partial index) lose all their rows, and
-- get back the sum, unless it is zero. Rows appended meanwhile by writers not yet committed
-- are not in this statement's snapshot: they stay, unmerged, for the next merge. The caller
-- holds the merge lock (engine.adapters.schedule_counts), so merges never overlap.
WITH touched AS (
    SELECT DISTINCT minute, task_type
    FROM schedule_minute_counts
    WHERE NOT merged
), merged_away AS (
    DELETE FROM schedule_minute_counts c
    USING touched t
    WHERE c.minute = t.minute AND c.task_type = t.task_type
    RETURNING c.minute, c.task_type, c.run_count
)
INSERT INTO schedule_minute_counts (minute, task_type, run_count, merged)
SELECT minute, task_type, SUM(run_count), TRUE
FROM merged_away
GROUP BY 1, 2
HAVING SUM(run_count) <> 0;

-- name: merge_dead_letter_counts
-- Fold the dead-letter counts appended since the last merge (0018) into one merged row: when
-- any row is unmerged, every row goes and their sum comes back, merged. Rows appended
-- meanwhile by writers not yet committed are not in this statement's snapshot: they stay,
-- unmerged, for the next merge. The caller holds the merge lock
-- (engine.adapters.schedule_counts), so merges never overlap.
WITH merged_away AS (
    DELETE FROM dead_letter_counts
    WHERE EXISTS (SELECT 1 FROM dead_letter_counts WHERE NOT merged)
    RETURNING row_count
)
INSERT INTO dead_letter_counts (row_count, merged)
SELECT SUM(row_count), TRUE
FROM merged_away
HAVING COUNT(*) > 0;

-- name: recount_schedule_minutes
-- The counts of the minutes in [:window_start, :window_end) made again from the rows, for
-- the writes the triggers do not see (a week's partition attached or detached, rows written
-- to a partition by name, a row moved in time by hand). The caller holds task_schedule's ACCESS EXCLUSIVE lock, so no row
-- changes meanwhile, and the merge lock, so no merge rewrites these counts meanwhile.
WITH cleared AS (
    DELETE FROM schedule_minute_counts
    WHERE minute >= :window_start
      AND minute < :window_end
)
INSERT INTO schedule_minute_counts (minute, task_type, run_count, merged)
SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), task_type, COUNT(*), TRUE
FROM task_schedule
WHERE scheduled_time >= :window_start
  AND scheduled_time < :window_end
GROUP BY 1, 2;

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
           COALESCE(a.avg_elapsed_ms, tt.expected_duration_ms)::BIGINT AS compute_ms
    FROM task_types tt
    LEFT JOIN average_elapsed_time_per_task_type a ON a.task_type = tt.name
), counted AS (
    SELECT minute AS scheduled_time, task_type, run_count AS n
    FROM schedule_minute_counts
    WHERE minute >= :window_start
      AND minute < :window_end
    UNION ALL
    SELECT date_bin('1 minute', s.scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), s.task_type, -1
    FROM task_schedule s
    WHERE s.scheduled_time >= :window_start
      AND s.scheduled_time < :window_end
      AND s.status = 'Skipped'
), per_minute AS (
    SELECT s.scheduled_time,
           SUM(s.n)::BIGINT                AS task_count,
           SUM(s.n * c.compute_ms)::BIGINT AS total_compute_ms
    FROM counted s
    JOIN compute_per_type c ON c.task_type = s.task_type
    GROUP BY 1
    HAVING SUM(s.n) > 0
), divisor AS (
    SELECT capacity_ms::BIGINT * (1000000 - buffer_ppm) AS per_instance_ppm_ms
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
SELECT date_trunc('minute', s.scheduled_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
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
-- feeds the whole chart. A range scan of task_schedule_by_time; date_bin costs less per
-- row than date_trunc with two time zone conversions.
SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute,
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
-- Rows due at or before :now that no processor has started (Scheduled or Queued), per task
-- type: how many, how many were due before :late_before (late already), and the oldest
-- scheduled time. A range scan of task_schedule_waiting (0007).
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
-- Rows Running now per claiming processor. A run started before :started_after has passed
-- every type's timeout, so the range scan of task_schedule_started stays short; no index
-- looks Running rows up by status (0005).
SELECT claimed_by AS processor_id, COUNT(*) AS running_count
FROM task_schedule
WHERE started_at >= :started_after
  AND status = 'Running'
GROUP BY claimed_by;

-- name: count_finished_runs_per_minute
-- Attempts started in [:window_start, :window_end) and finished, per UTC minute of their
-- finish and outcome class: the throughput the Workers page draws. The window is on
-- started_at, a range scan of task_runs_started (0007).
SELECT date_trunc('minute', finished_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
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
-- task_schedule_leased and task_schedule_handed_over, task_schedule_running_lease,
-- task_schedule_retry_due), so a scrape costs the work in flight, not the history kept.
-- Finished rows (Succeeded, Failed without a retry, discarded dead letters) are history:
-- counted by count_runs_by_outcome from the rollups instead. Queued rows are counted in the
-- two indexes that hold only them (through task_schedule_waiting the count stepped over every
-- Scheduled row of the horizon as well). Dead letters not discarded are kept until someone
-- acts on them, so they pile up with the history: their count is the one the triggers of
-- 0018 keep (dead_letter_counts, a few rows merged or not yet), exact in this snapshot.
SELECT 'Scheduled' AS status, COUNT(*) AS row_count FROM task_schedule WHERE status = 'Scheduled'
UNION ALL
SELECT 'Queued',
       (SELECT COUNT(*) FROM task_schedule WHERE status = 'Queued' AND lease_expires_at IS NOT NULL)
     + (SELECT COUNT(*) FROM task_schedule WHERE status = 'Queued' AND lease_expires_at IS NULL)
UNION ALL
SELECT 'Running', COUNT(*) FROM task_schedule WHERE status = 'Running'
UNION ALL
SELECT 'Failed', COUNT(*) FROM task_schedule WHERE status = 'Failed' AND next_attempt_at IS NOT NULL
UNION ALL
SELECT 'Dead', (SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT) FROM dead_letter_counts);

-- name: count_runs_by_outcome
-- Attempts recorded since the rollups began, by outcome class as the rollups count them: the
-- rollups (one row per task type and day) plus the runs past their watermark (inserted once,
-- with their outcome), a primary key range scan. Pruning raw runs does not lower it. The
-- range is bounded on both sides, as in the average view (0009): from the watermark alone
-- the planner expects a third of task_runs and reads every week's rows with bitmap scans.
SELECT COALESCE(SUM(succeeded), 0) AS succeeded, COALESCE(SUM(failed), 0) AS failed
FROM (
    SELECT succeeded_count AS succeeded, failed_count AS failed FROM task_run_rollups
    UNION ALL
    SELECT CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END,
           CASE WHEN outcome = 'succeeded' THEN 0 ELSE 1 END
    FROM task_runs
    WHERE id > (SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1)
      AND id <= (SELECT MAX(id) FROM task_runs)
) parts;

-- name: summarize_attempts_per_hour_type_and_bucket
-- Attempts started in [:window_start, :window_end), grouped by UTC hour of their start, task
-- type, outcome (NULL: not finished), finished or not, and elapsed-time bucket (the buckets
-- of engine.core.on_time.lag_bucket_ms; NULL without an elapsed time), with the sum and the
-- maximum of their elapsed times. engine.core.attempt_stats folds the groups into every
-- figure of the Metrics page (percentiles and averages per type, failure rate per hour, run
-- counts per outcome), so the window is scanned once: a range scan of task_runs_started.
-- date_bin costs less per row than date_trunc with two time zone conversions.
SELECT date_bin('1 hour', started_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour,
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
-- partial index (0008_reconcile.sql) up to :limit, oldest deadline first: Queued rows handed
-- over before :queued_before, Running rows whose lease ended by :now, Failed rows whose retry
-- was due before :queued_before. The core applies the exact deadlines.
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Queued' AND lease_expires_at IS NULL AND queued_at <= :queued_before
 ORDER BY queued_at LIMIT :limit)
UNION ALL
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Running' AND lease_expires_at <= :now
 ORDER BY lease_expires_at LIMIT :limit)
UNION ALL
(SELECT id, status, attempt, claimed_by, lease_expires_at, queued_at, next_attempt_at, finished_at
 FROM task_schedule
 WHERE status = 'Failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= :queued_before
 ORDER BY next_attempt_at LIMIT :limit);

-- name: redrive_row
-- Back to Scheduled with :attempt, for the distributor's next claim, if the row is still as
-- the reconciliation saw it (:status, :seen_attempt, :claimed_by, :lease_expires_at,
-- :next_attempt_at). A row someone holds right now is moving: skipped, not waited for.
-- Returns the id when the row changed.
UPDATE task_schedule SET status = 'Scheduled', attempt = :attempt, claimed_by = NULL,
       lease_expires_at = NULL, queued_at = NULL, next_attempt_at = NULL
WHERE id = (
    SELECT id FROM task_schedule
    WHERE id = :id AND status = :status AND attempt = :seen_attempt
      AND claimed_by IS NOT DISTINCT FROM :claimed_by
      AND lease_expires_at IS NOT DISTINCT FROM :lease_expires_at
      AND next_attempt_at IS NOT DISTINCT FROM :next_attempt_at
    FOR UPDATE SKIP LOCKED
)
RETURNING id;

-- name: count_redriven
-- Adds :row_count to the rows driven on for :kind.
INSERT INTO reconciliation_counts (kind, row_count) VALUES (:kind, :row_count)
ON CONFLICT (kind) DO UPDATE SET row_count = reconciliation_counts.row_count + EXCLUDED.row_count;

-- The processor's state transitions (engine.adapters.run_store). Batches travel as one JSON
-- array of arrays: json.dumps is C, where a dozen parameter arrays cost the driver 20 us a
-- row in Python, and reading fields by position costs the server a tenth of matching them by
-- name. Every change names the status and attempt it replaces; the returned ids say which
-- rows changed. Same names and parameters as on SQLite, so that run_store has one path
-- (but for record_runs: here finish_runs records the runs itself).

-- name: start_waiting_rows
-- The normal START of engine.core.leases.decide_start for a whole batch, in one statement:
-- rows waiting for exactly the message's attempt (Scheduled or Queued at :messages' attempt
-- minus one, or Failed with a retry pending) become Running at :now under :me until
-- :lease_until. :messages is [[schedule_id, attempt], ...] without repeated ids; returns the
-- ids started with their scheduled time and their task's id, type, payload and overrides
-- (timeout_s, max_attempts). Each message's row is looked up and locked by its key, in
-- a LATERAL subquery that holds the lock (FOR UPDATE keeps the planner from merging it
-- into a join): joined to the JSON, whose size it cannot know, the planner scanned the
-- whole table, and given the ids as an array as well (= ANY) it could compare every row
-- found with every message (a nested loop with a join filter, quadratic in the batch) when
-- a partition's statistics lag a burst. The messages are taken in id order, the lock order
-- every processor uses; a row another transaction holds is waited for.
-- The rows are locked by primary key alone and tested once locked (FOR UPDATE returns their
-- latest version): with the status test in the locking scan or the update, the planner
-- combined the key with the partial index of waiting rows (task_schedule_waiting), and on a
-- week's partition whose statistics lag a burst it read that whole index once per row.
-- The update finds each row by its key and week (id, scheduled_time): one partition.
-- [:time_from, :time_to) spans the messages' scheduled times, so that only the weeks
-- (partitions, 0011) holding them are locked and read; a row outside it (a message with a
-- wrong time) is left to the decided path. The span is whole weeks (run_store.week_span):
-- bounds as narrow as the batch's instants, which a burst shares, made the planner, its
-- statistics lagging the burst, read the span through the time index and test each row
-- against the batch. The update finds each row by its whole key and names no span: with
-- one, the planner looked rows up by scheduled_time alone, which a burst's rows share.
-- A lag past the INT column's range (a start 24.8 days late) is recorded as its largest
-- value, engine.core.leases.MAX_LAG_MS, rather than failing the batch.
-- tests/integration/test_run_store.py checks it agrees with decide_start state by state.
WITH m AS (
    SELECT CAST(e->>0 AS BIGINT) AS id, CAST(e->>1 AS INT) AS attempt
    FROM json_array_elements(CAST(:messages AS JSON)) AS e
), locked AS (
    SELECT t.id, t.scheduled_time, t.status, t.row_attempt, t.next_attempt_at, m.attempt
    FROM (SELECT id, attempt FROM m ORDER BY id) AS m
    CROSS JOIN LATERAL (
        SELECT id, scheduled_time, status, attempt AS row_attempt, next_attempt_at
        FROM task_schedule
        WHERE id = m.id AND scheduled_time >= :time_from AND scheduled_time < :time_to
        FOR UPDATE
    ) AS t
), waiting AS (
    SELECT id, scheduled_time, attempt FROM locked
    WHERE row_attempt = attempt - 1
      AND (status IN ('Scheduled', 'Queued') OR (status = 'Failed' AND next_attempt_at IS NOT NULL))
), started AS (
    UPDATE task_schedule t SET status = 'Running', attempt = w.attempt, started_at = :now,
           finished_at = NULL, claimed_by = :me, lease_expires_at = :lease_until, next_attempt_at = NULL,
           start_lag_ms = COALESCE(t.start_lag_ms, LEAST(2147483647,
               GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (CAST(:now AS TIMESTAMPTZ) - t.scheduled_time)) * 1000)))::INT)
    FROM waiting w WHERE t.id = w.id AND t.scheduled_time = w.scheduled_time
      AND t.attempt = w.attempt - 1
    RETURNING t.id, t.task_id, t.scheduled_time
)
SELECT s.id, s.task_id, s.scheduled_time, k.task_type, k.payload, k.timeout_s, k.max_attempts
FROM started s JOIN tasks k ON k.id = s.task_id;

-- name: set_running
-- Rows decided START one by one (engine.core.leases.decide_start) become Running at :now
-- under :me until :lease_until, if still at the status and attempt the decision saw.
-- :changes is [[schedule_id, expected_status, expected_attempt, attempt, lag_ms], ...].
UPDATE task_schedule t SET status = 'Running', attempt = m.attempt, started_at = :now,
       finished_at = NULL, claimed_by = :me, lease_expires_at = :lease_until, next_attempt_at = NULL,
       start_lag_ms = COALESCE(t.start_lag_ms, m.lag_ms)
FROM (
    SELECT CAST(e->>0 AS BIGINT) AS id, e->>1 AS expected_status, CAST(e->>2 AS INT) AS expected_attempt,
           CAST(e->>3 AS INT) AS attempt, CAST(e->>4 AS INT) AS lag_ms
    FROM json_array_elements(CAST(:changes AS JSON)) AS e
) AS m
WHERE t.id = m.id AND t.status = m.expected_status AND t.attempt = m.expected_attempt
RETURNING t.id;

-- name: finish_runs
-- Outcomes (engine.processes.workers.record_outcome decides them): each row Running at its
-- attempt under :me takes its new status and gets its task_runs row, in one statement (on
-- SQLite, record_runs adds those rows). Returns the ids changed. :rows is [[schedule_id,
-- attempt, status, finished_at, error, next_attempt_at, task_id, task_type, started_at,
-- elapsed_ms, outcome, output_excerpt, scheduled_time], ...], the last the row's own (as
-- its start returned it). One statement rather than an update and an insert: two cost about
-- a sixth of the rows finished per second (A/B of the finish write, 3,000 rows in batches
-- of 100). The update finds each row by its whole key (id, scheduled_time), as the claim
-- does: a primary key lookup in the one week (partition, 0011) that holds it. The row's
-- expected status and processor come from m too, so that every test of the update joins
-- it to m: a test of task_schedule alone (status = 'Running') matched the partial index
-- task_schedule_running_lease, whose statistics lag a burst, and the planner, expecting a
-- row or two, compared every Running row with every outcome (a nested loop with a join
-- filter: 2 M comparisons for 1,400 outcomes, 2.3 s for 5,000). The runs' rows are made
-- from what the update returns (its RETURNING names m's columns too), with no second join.
-- The batch is read as JSONB: each e->>N of a JSON value lexes the element's text again, so
-- thirteen fields lexed every outcome thirteen times (a sixth of the statement's time).
WITH m AS MATERIALIZED (
    SELECT CAST(e->>0 AS BIGINT) AS id, CAST(e->>1 AS INT) AS attempt, e->>2 AS status,
           CAST(e->>3 AS TIMESTAMPTZ) AS finished_at, e->>4 AS error,
           CAST(e->>5 AS TIMESTAMPTZ) AS next_attempt_at, CAST(e->>6 AS BIGINT) AS task_id,
           e->>7 AS task_type, CAST(e->>8 AS TIMESTAMPTZ) AS started_at, CAST(e->>9 AS INT) AS elapsed_ms,
           e->>10 AS outcome, e->>11 AS output_excerpt, CAST(e->>12 AS TIMESTAMPTZ) AS scheduled_time,
           'Running' AS running, CAST(:me AS TEXT) AS me
    FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS e
), changed AS (
    UPDATE task_schedule t SET status = m.status, finished_at = m.finished_at, last_error = m.error,
           next_attempt_at = m.next_attempt_at, lease_expires_at = NULL
    FROM m WHERE t.id = m.id AND t.scheduled_time = m.scheduled_time
      AND t.status = m.running AND t.attempt = m.attempt AND t.claimed_by = m.me
    RETURNING t.id, t.scheduled_time, m.task_id, m.task_type, m.attempt, m.started_at,
              m.finished_at, m.elapsed_ms, m.outcome, m.output_excerpt, m.error
), recorded AS (
    INSERT INTO task_runs (schedule_id, task_id, task_type, attempt, started_at, finished_at,
                           elapsed_ms, outcome, output_excerpt, error, scheduled_time)
    SELECT id, task_id, task_type, attempt, started_at, finished_at, elapsed_ms, outcome,
           output_excerpt, error, scheduled_time
    FROM changed
)
SELECT id FROM changed;

-- name: give_back_runs
-- Runs that will not finish here: Running at their attempt under :me -> Queued at the
-- previous attempt, queued anew at :now, so that their requeued message starts them again
-- under the same attempt. :runs is [[schedule_id, attempt], ...]; rows locked in id order.
WITH m AS (
    SELECT CAST(e->>0 AS BIGINT) AS id, CAST(e->>1 AS INT) AS attempt
    FROM json_array_elements(CAST(:runs AS JSON)) AS e
), mine AS (
    SELECT t.id, m.attempt FROM task_schedule t JOIN m ON t.id = m.id
    WHERE t.status = 'Running' AND t.attempt = m.attempt AND t.claimed_by = :me
    ORDER BY t.id FOR UPDATE OF t
)
UPDATE task_schedule t SET status = 'Queued', attempt = mine.attempt - 1, claimed_by = NULL,
       lease_expires_at = NULL, queued_at = :now
FROM mine WHERE t.id = mine.id
RETURNING t.id;

-- The Distributor's state transitions (engine.adapters.distribution_store). Each names the
-- status (and claimer) it replaces; none waits for a row lock (FOR UPDATE SKIP LOCKED), so
-- waits only go from processors to distributors and cannot form deadlocks. Ids travel as one
-- JSON array, :ids = [schedule_id, ...]. An update finds its chosen rows by their whole key
-- (id, scheduled_time): one partition (0011) each, not one index probe per week.

-- name: claim_due_rows
-- Up to :limit due Scheduled rows without a policy (engine.adapters.policy_claims has
-- those), oldest first, become Queued under :claimer until :lease_until, queued at :now.
-- The rows are chosen once, in a materialized CTE, and the update finds each by its whole
-- key (id, scheduled_time): a primary key lookup in the one week (partition, 0011) that
-- holds it. (Bounding the update by the chosen rows' time span instead let the planner, its
-- statistics lagging a burst, compare every chosen row with every row of that span: a
-- million comparisons per 1,000 rows.) No status test in the update: the rows are locked as
-- Scheduled, and the test let the planner read every Scheduled row of the week through a
-- partial index instead. The type comes from the row itself (0013).
WITH due AS MATERIALIZED (
    SELECT id, scheduled_time
    FROM task_schedule
    WHERE status = 'Scheduled' AND scheduled_time <= :now AND NOT policy_claim
    ORDER BY scheduled_time
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE task_schedule t
SET status = 'Queued', claimed_by = :claimer, lease_expires_at = :lease_until, queued_at = :now
FROM due
WHERE t.id = due.id AND t.scheduled_time = due.scheduled_time
RETURNING t.id, t.task_id, t.task_type, t.attempt, t.scheduled_time;

-- name: mark_handed_over
-- The broker confirmed these rows' messages: rows still Queued under :claimer lose their
-- lease, so no sweep resends them.
WITH chosen AS MATERIALIZED (
    SELECT id, scheduled_time
    FROM task_schedule
    WHERE id = ANY(ARRAY(SELECT CAST(e AS BIGINT) FROM json_array_elements_text(CAST(:ids AS JSON)) AS e))
      AND status = 'Queued' AND claimed_by = :claimer
    FOR UPDATE SKIP LOCKED
)
UPDATE task_schedule t SET lease_expires_at = NULL
FROM chosen WHERE t.id = chosen.id AND t.scheduled_time = chosen.scheduled_time;

-- name: release_unpublished
-- Publishing failed: rows still Queued under :claimer go back to Scheduled, unclaimed.
WITH chosen AS MATERIALIZED (
    SELECT id, scheduled_time
    FROM task_schedule
    WHERE id = ANY(ARRAY(SELECT CAST(e AS BIGINT) FROM json_array_elements_text(CAST(:ids AS JSON)) AS e))
      AND status = 'Queued' AND claimed_by = :claimer
    FOR UPDATE SKIP LOCKED
)
UPDATE task_schedule t
SET status = 'Scheduled', claimed_by = NULL, lease_expires_at = NULL, queued_at = NULL
FROM chosen WHERE t.id = chosen.id AND t.scheduled_time = chosen.scheduled_time;

-- name: expired_claims_exist
-- Whether sweep_expired_claims has anything to do at :now. The sweep runs every distributor
-- loop and nearly always finds nothing; planning its update names every week's partition and
-- each partition's indexes (2 ms a loop in a burst), a read of the partial index
-- task_schedule_leased a fifth of that.
SELECT EXISTS (
    SELECT 1 FROM task_schedule
    WHERE status = 'Queued' AND lease_expires_at IS NOT NULL AND lease_expires_at <= :now
);

-- name: sweep_expired_claims
-- Queued rows whose distributor lease ran out by :now go back to Scheduled, unclaimed.
WITH chosen AS MATERIALIZED (
    SELECT id, scheduled_time
    FROM task_schedule
    WHERE status = 'Queued' AND lease_expires_at IS NOT NULL AND lease_expires_at <= :now
    FOR UPDATE SKIP LOCKED
)
UPDATE task_schedule t
SET status = 'Scheduled', claimed_by = NULL, lease_expires_at = NULL, queued_at = NULL
FROM chosen WHERE t.id = chosen.id AND t.scheduled_time = chosen.scheduled_time;

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
-- The scheduled times of the task_runs rows with :after_id < id <= :through_id: the weeks
-- (partitions, 0011) that the roll-up reads their schedule rows from.
SELECT MIN(scheduled_time) AS time_from, MAX(scheduled_time) AS time_to
FROM task_runs
WHERE id > :after_id AND id <= :through_id;

-- name: roll_up_runs
-- Adds the task_runs rows with :after_id < id <= :through_id to the daily rollups (0009),
-- per task type and UTC day of their start. A run's start lag is its schedule row's
-- start_lag_ms, counted for first attempts only. A primary key range scan; the schedule rows
-- are found by their whole key, in [:time_from, :time_to] (read_run_time_span), so that only
-- the weeks holding them are read: joined on the id alone, every batch read every week
-- (rolling up 35 M runs took an hour).
INSERT INTO task_run_rollups AS t (task_type, day, run_count, succeeded_count, failed_count,
                                   elapsed_count, elapsed_ms_sum, start_lag_count, start_lag_ms_sum)
SELECT r.task_type,
       (r.started_at AT TIME ZONE 'UTC')::date,
       COUNT(*),
       COUNT(*) FILTER (WHERE r.outcome = 'succeeded'),
       COUNT(*) FILTER (WHERE r.outcome IS DISTINCT FROM 'succeeded'),
       COUNT(r.elapsed_ms),
       COALESCE(SUM(r.elapsed_ms), 0),
       COUNT(s.start_lag_ms),
       COALESCE(SUM(s.start_lag_ms), 0)
FROM task_runs r
LEFT JOIN task_schedule s
    ON s.id = r.schedule_id AND s.scheduled_time = r.scheduled_time AND r.attempt = 1
   AND s.scheduled_time >= :time_from AND s.scheduled_time <= :time_to
WHERE r.id > :after_id AND r.id <= :through_id
GROUP BY 1, 2
ON CONFLICT (task_type, day) DO UPDATE SET
    run_count = t.run_count + EXCLUDED.run_count,
    succeeded_count = t.succeeded_count + EXCLUDED.succeeded_count,
    failed_count = t.failed_count + EXCLUDED.failed_count,
    elapsed_count = t.elapsed_count + EXCLUDED.elapsed_count,
    elapsed_ms_sum = t.elapsed_ms_sum + EXCLUDED.elapsed_ms_sum,
    start_lag_count = t.start_lag_count + EXCLUDED.start_lag_count,
    start_lag_ms_sum = t.start_lag_ms_sum + EXCLUDED.start_lag_ms_sum;

-- name: roll_up_run_buckets
-- The same runs counted per histogram bucket of elapsed ms and of first-attempt start lag.
-- The bounds are engine.core.histogram.HISTORY_BOUNDS_MS (a test compares them).
WITH measured AS (
    SELECT r.task_type, (r.started_at AT TIME ZONE 'UTC')::date AS day,
           'elapsed' AS measure, r.elapsed_ms AS value_ms
    FROM task_runs r
    WHERE r.id > :after_id AND r.id <= :through_id AND r.elapsed_ms IS NOT NULL
    UNION ALL
    SELECT r.task_type, (r.started_at AT TIME ZONE 'UTC')::date, 'start_lag', s.start_lag_ms
    FROM task_runs r
    JOIN task_schedule s ON s.id = r.schedule_id AND s.scheduled_time = r.scheduled_time
     AND s.scheduled_time >= :time_from AND s.scheduled_time <= :time_to
    WHERE r.id > :after_id AND r.id <= :through_id AND r.attempt = 1 AND s.start_lag_ms IS NOT NULL
)
INSERT INTO task_run_rollup_buckets AS t (task_type, day, measure, bucket, run_count)
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
GROUP BY 1, 2, 3, 4
ON CONFLICT (task_type, day, measure, bucket) DO UPDATE SET
    run_count = t.run_count + EXCLUDED.run_count;

-- name: read_rollup_watermark
-- The last task_runs id counted in the rollups, locked against a concurrent roll-up.
SELECT rolled_up_run_id FROM history_rollup_state WHERE id = 1 FOR UPDATE;

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
-- Rows someone holds are skipped (a later batch or prune takes them).
-- Only the default partition is pruned row by row: whole weeks are dropped instead
-- (engine.adapters.partition_store), and rows kept from a dropped week wait here.
SELECT s.id, s.finished_at
FROM task_schedule_default s
WHERE (s.status = 'Succeeded' OR (s.status = 'Failed' AND s.next_attempt_at IS NULL)
       OR (s.status = 'Dead' AND s.discarded_at IS NOT NULL) OR s.status = 'Skipped')
  AND (s.status <> 'Dead' OR s.discarded_at < :cutoff)
  AND s.finished_at < :cutoff
  AND (s.finished_at > :after_time OR (s.finished_at = :after_time AND s.id > :after_id))
  AND NOT EXISTS (SELECT 1 FROM task_runs_default r WHERE r.schedule_id = s.id AND r.id > :rolled_up_run_id)
ORDER BY s.finished_at, s.id
LIMIT :batch_size
FOR UPDATE OF s SKIP LOCKED;

-- name: count_prunable_rows
-- What a prune at :cutoff would remove (the rows of find_prunable_rows, once rolled up):
-- schedule rows and their runs, in the default partition and in the weeks that end before
-- :weeks_before (the weeks a prune drops).
SELECT COUNT(DISTINCT s.id) AS schedule_rows, COUNT(r.id) AS run_rows
FROM task_schedule s
LEFT JOIN task_runs r ON r.schedule_id = s.id AND r.scheduled_time = s.scheduled_time
WHERE (s.status = 'Succeeded' OR (s.status = 'Failed' AND s.next_attempt_at IS NULL)
       OR (s.status = 'Dead' AND s.discarded_at IS NOT NULL) OR s.status = 'Skipped')
  AND (s.status <> 'Dead' OR s.discarded_at < :cutoff)
  AND s.finished_at < :cutoff
  AND (s.scheduled_time < :weeks_before OR s.tableoid = CAST('task_schedule_default' AS regclass));

-- name: find_rows_kept_from_week
-- The schedule rows of the week [:start, :end) that are not history at :cutoff
-- (engine.core.retention.is_prunable says no) or have runs past :rolled_up_run_id: the rows
-- a week's drop must keep. One branch per kind of row, each through the partial index that
-- holds that kind (0011), so the read stays short however many rows the week holds: it runs
-- under the lock that holds every write back.
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end AND status IN ('Scheduled', 'Queued')
UNION
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end AND status = 'Running'
UNION
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end AND status = 'Failed' AND next_attempt_at IS NOT NULL
UNION
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end AND status = 'Dead' AND discarded_at IS NULL
UNION
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end AND status = 'Dead' AND discarded_at IS NOT NULL
  AND discarded_at >= :cutoff
UNION
SELECT id FROM task_schedule
WHERE scheduled_time >= :start AND scheduled_time < :end
  AND (status = 'Succeeded' OR (status = 'Failed' AND next_attempt_at IS NULL)
       OR (status = 'Dead' AND discarded_at IS NOT NULL) OR status = 'Skipped')
  AND (finished_at >= :cutoff OR finished_at IS NULL)
UNION
SELECT schedule_id FROM task_runs
WHERE scheduled_time >= :start AND scheduled_time < :end AND id > :rolled_up_run_id;
