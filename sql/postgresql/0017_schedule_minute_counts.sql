-- The schedule rows counted per UTC minute and task type, kept by the writes that add, remove
-- or move rows. Applied by the Alembic revision 0017_schedule_minute_counts.
--
-- /scaling/processors, /forecast, the capacity plan and the forecast accuracy snapshots count
-- a window's rows per minute and type, whatever their status. Counting the rows on each read
-- costs one index entry per row: 80,000 of them when every task is due within 20 minutes,
-- near 50 ms. Here the read sums a few rows per minute and type instead.
--
-- Exact, not a cache: every change to the counts is made by a trigger in the transaction that
-- adds or removes the schedule rows (or changes their task's type), so a reader's snapshot
-- sees the rows and their counts as of the same instant. A claim, start or finish changes a
-- row's status only, which the count leaves out, and meets no trigger of these.
--
-- Writers only append (a signed count per minute and type and statement), so concurrent
-- Schedulers and task edits never wait for each other on a count row. Appended rows are not
-- `merged`; the Scheduler folds them into one merged row per minute and type after its pass
-- (compact_schedule_minute_counts), reading them from the partial index of unmerged rows.
CREATE TABLE schedule_minute_counts (
    minute     TIMESTAMPTZ NOT NULL,
    task_type  TEXT        NOT NULL,
    run_count  BIGINT      NOT NULL,
    merged     BOOLEAN     NOT NULL DEFAULT FALSE
);
CREATE INDEX schedule_minute_counts_by_minute ON schedule_minute_counts (minute, task_type)
    INCLUDE (run_count);
CREATE INDEX schedule_minute_counts_unmerged ON schedule_minute_counts (minute, task_type)
    WHERE NOT merged;

-- The minute is the one count_runs_per_minute_and_type used to truncate to.
CREATE FUNCTION headway_count_added_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO schedule_minute_counts (minute, task_type, run_count)
    SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), task_type, COUNT(*)
    FROM added_rows
    GROUP BY 1, 2;
    RETURN NULL;
END;
$$;
CREATE FUNCTION headway_count_removed_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO schedule_minute_counts (minute, task_type, run_count)
    SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), task_type, -COUNT(*)
    FROM removed_rows
    GROUP BY 1, 2;
    RETURN NULL;
END;
$$;
-- Once per statement, from its transition table: the Scheduler's batched insert appends one
-- row per minute and type it wrote, not one per schedule row.
CREATE TRIGGER task_schedule_count_added AFTER INSERT ON task_schedule
    REFERENCING NEW TABLE AS added_rows
    FOR EACH STATEMENT EXECUTE FUNCTION headway_count_added_rows();
CREATE TRIGGER task_schedule_count_removed AFTER DELETE ON task_schedule
    REFERENCING OLD TABLE AS removed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION headway_count_removed_rows();

-- No trigger on UPDATE of task_schedule: a row level one would run for every row a claim,
-- start or finish updates (a BEFORE trigger even locks each row first, whichever columns the
-- update sets). A row's type changes only when its task's does (0013's trigger, rewritten
-- here to move the counts in the same statement); its scheduled_time never changes (no
-- Headway write sets it, and it is the partition key). A hand-made UPDATE of either column
-- leaves the counts behind until engine.adapters.schedule_counts.recount_minutes.
CREATE OR REPLACE FUNCTION headway_task_type_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        UPDATE task_schedule s SET task_type = NEW.task_type
        FROM task_schedule was
        WHERE s.task_id = NEW.id AND s.task_type IS DISTINCT FROM NEW.task_type
          AND was.id = s.id AND was.scheduled_time = s.scheduled_time
        RETURNING date_bin('1 minute', s.scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute,
                  was.task_type AS old_type
    )
    INSERT INTO schedule_minute_counts (minute, task_type, run_count)
    SELECT minute, old_type, -COUNT(*) FROM moved GROUP BY 1, 2
    UNION ALL
    SELECT minute, NEW.task_type, COUNT(*) FROM moved GROUP BY 1;
    RETURN NULL;
END;
$$;

-- Under the merge lock (engine.adapters.schedule_counts.MERGE_LOCK, "HWMC"): a merge running
-- meanwhile would otherwise write its sums back after this deletion.
CREATE FUNCTION headway_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1213680963);
    DELETE FROM schedule_minute_counts;
    RETURN NULL;
END;
$$;
CREATE TRIGGER task_schedule_count_truncated AFTER TRUNCATE ON task_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION headway_count_truncated();

-- Attaching, detaching and dropping a week's partition, and writing to a partition by name,
-- bypass the triggers above: engine.adapters.partition_store recounts the week's minutes
-- under its lock of task_schedule (recount_schedule_minutes).

INSERT INTO schedule_minute_counts (minute, task_type, run_count, merged)
SELECT date_bin('1 minute', scheduled_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), task_type, COUNT(*), TRUE
FROM task_schedule
GROUP BY 1, 2;
